"""A test server for spread's exec mode, standard library only.

It serves on fd 3 (systemd socket activation) one request at a time, so a
test controls exactly when it accepts. Routes:
  GET /              hello, with X-Worker: <pid>
  GET /delay?ms=N    answer after N ms (busy, but still accepting after)
  GET /spin          spin forever in the only thread: a worker that is
                     running but takes nothing from its queue
  GET /leak?mb=N     keep N more MiB of memory for good (a leaking app)
Environment knobs:
  NOTIFY=1           send READY=1 and STATUS= to $NOTIFY_SOCKET when serving
  WATCHDOG_ONCE=1    send WATCHDOG=1 once after READY=1, then never again
  STOP_SIGNAL=NAME   drain and exit 0 on this signal (default TERM)
  CRASH_SLOT=N       the worker of slot N exits with code 3 after 300ms
"""
import http.server
import os
import signal
import socket
import sys
import threading
import time
import urllib.parse

if os.environ.get("LISTEN_PID") != str(os.getpid()) or os.environ.get("LISTEN_FDS") != "1":
    sys.exit("execserver: not socket-activated for this pid")


leaked = []


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path == "/spin":
            while True:
                pass
        if url.path == "/leak":
            mb = int(urllib.parse.parse_qs(url.query).get("mb", ["0"])[0])
            for _ in range(mb):
                leaked.append(b"x" * (1 << 20))
        if url.path == "/delay":
            ms = int(urllib.parse.parse_qs(url.query).get("ms", ["0"])[0])
            time.sleep(ms / 1000)
        body = ("hello from %d\n" % os.getpid()).encode()
        self.send_response(200)
        self.send_header("X-Worker", str(os.getpid()))
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
        self.close_connection = True

    def log_message(self, *args):
        pass


def notify(msg):
    addr = os.environ.get("NOTIFY_SOCKET", "")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.sendto(msg.encode(), addr)


if os.environ.get("CRASH_SLOT") == os.environ.get("SPREAD_SLOT"):
    threading.Timer(0.3, lambda: os._exit(3)).start()

srv = http.server.HTTPServer(("127.0.0.1", 0), Handler, bind_and_activate=False)
srv.socket.close()
srv.socket = socket.socket(fileno=3)

stop = getattr(signal, "SIG" + os.environ.get("STOP_SIGNAL", "TERM"))
signal.signal(stop, lambda *_: threading.Thread(target=srv.shutdown).start())

if os.environ.get("NOTIFY") == "1":
    notify("READY=1\nSTATUS=serving slot %s" % os.environ.get("SPREAD_SLOT"))
    if os.environ.get("WATCHDOG_ONCE") == "1":
        notify("WATCHDOG=1")
srv.serve_forever(poll_interval=0.05)
