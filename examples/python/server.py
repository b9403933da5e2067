#!/usr/bin/env python3
"""A hello-world HTTP server for spread, standard library only.

spread starts every worker and passes each its slot's SO_REUSEPORT socket
as fd 3 with the systemd socket-activation protocol (LISTEN_FDS,
LISTEN_PID); the kernel balances the connections between the workers.

    spread serve --workers 2 --ready=notify -- python3 examples/python/server.py

Readiness: READY=1 goes to NOTIFY_SOCKET once the server is about to
accept. WATCHDOG=1 follows every WATCHDOG_USEC/2 from the accept loop
itself, so a wedged loop goes silent.

Stop: on SIGTERM (spread's stop signal) it stops accepting, finishes the
requests in progress and exits 0. Connections still queued on the slot's
socket stay there for the next worker: spread keeps that socket open.
SIGQUIT (spread: "you look hung") drains the same way.

Every response closes its connection (no keep-alive), so no idle
connection can hold up the drain or be cut by it.

Routes: GET /delay?ms=N waits N ms (at most 60000), then answers like
every other path: "hello from <pid>". Every answer carries X-Worker: <pid>.
"""

import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

LISTEN_FDS_START = 3


def listen_socket():
    """The passed listening socket, as sd_listen_fds(1) finds it: only if
    LISTEN_PID is this process. The LISTEN_* variables are unset so that a
    child process does not take the socket for its own."""
    pid = os.environ.pop("LISTEN_PID", "")
    fds = os.environ.pop("LISTEN_FDS", "")
    os.environ.pop("LISTEN_FDNAMES", None)
    if pid != str(os.getpid()) or not fds.isdigit() or int(fds) < 1:
        sys.exit(
            f"server.py: no listening socket passed (LISTEN_PID={pid} LISTEN_FDS={fds}, "
            f"pid {os.getpid()}); run it under spread or systemd-socket-activate"
        )
    sock = socket.socket(fileno=LISTEN_FDS_START)
    # Non-blocking: during a reload the old and the new worker of a slot
    # share this socket, and the other may take the connection that woke
    # us; a blocking accept would then hang the loop and the drain.
    sock.setblocking(False)
    return sock


def notify(state):
    """Send state to NOTIFY_SOCKET (sd_notify); a no-op when it is unset.
    A name starting with '@' is in the abstract namespace."""
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        s.sendto(state.encode(), addr)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # A client has this long for each read (the request line, headers).
    timeout = 10

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/delay":
            ms = parse_qs(url.query).get("ms", [""])[0]
            if not ms.isdigit() or int(ms) > 60000:
                self.answer(400, "ms must be an integer between 0 and 60000\n")
                return
            time.sleep(int(ms) / 1000)
        self.answer(200, f"hello from {os.getpid()}\n")

    def answer(self, status, text):
        body = text.encode()
        self.send_response(status)
        self.send_header("X-Worker", str(os.getpid()))
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        pass  # no access log: under load it would be most of the output


class Server(ThreadingHTTPServer):
    """ThreadingHTTPServer on an already listening socket. server_close()
    joins every request thread: that is the drain."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, sock, watchdog):
        super().__init__(sock.getsockname(), Handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.watchdog = watchdog
        self.next_ping = 0.0

    def service_actions(self):
        # Called by serve_forever on every turn of the accept loop.
        if self.watchdog and time.monotonic() >= self.next_ping:
            notify("WATCHDOG=1")
            self.next_ping = time.monotonic() + self.watchdog / 2


def main():
    sock = listen_socket()
    usec = os.environ.get("WATCHDOG_USEC", "")
    watchdog = int(usec) / 1e6 if usec.isdigit() and int(usec) > 0 else 0.0
    server = Server(sock, watchdog)

    def stop(signum, frame):
        notify("STOPPING=1")
        print(f"server.py: pid {os.getpid()} got {signal.Signals(signum).name}: draining",
              file=sys.stderr, flush=True)
        # shutdown() waits for serve_forever, which runs in this (the main)
        # thread under this handler: it has to be called from another one.
        threading.Thread(target=server.shutdown).start()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        signal.signal(sig, stop)

    notify("READY=1")
    poll = min(0.5, watchdog / 4) if watchdog else 0.5
    server.serve_forever(poll_interval=poll)
    # Stop accepting, then wait for the request threads.
    server.server_close()


if __name__ == "__main__":
    main()
