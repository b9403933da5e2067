// The classic Node cluster hello-world server, rewritten for spread.
//
// The classic version forks one worker per core with node:cluster, and the
// primary hands connections to them. Under spread there is no primary in
// node: spread starts every worker, and each one serves its slot's
// SO_REUSEPORT socket, passed as fd 3 with the systemd socket-activation
// protocol (LISTEN_FDS, LISTEN_PID). The kernel balances the connections.
//
//   spread serve --workers 2 -- node examples/node/server.js
//
// Readiness: node has no unix datagram socket in its core library, so this
// server cannot send READY=1 to NOTIFY_SOCKET; run it with spread's default
// --ready=start. No npm packages.
//
// Routes: GET /delay?ms=N waits N ms (at most 60000), then answers like
// every other path: "hello from <pid>". Every answer carries X-Worker: <pid>.
'use strict';

const http = require('node:http');
const net = require('node:net');

const LISTEN_FDS_START = 3;
// A connection with no request in progress is closed by the drain only
// once it has been silent this long: a keep-alive client sends its next
// request a moment after reading a response, and closing the connection
// in that moment would cut the request.
const IDLE_SETTLE_MS = 1000;

// listenFd returns the passed socket's fd, or exits with one line saying
// why there is none. It unsets the LISTEN_* variables, as sd_listen_fds(1)
// does, so that a child process does not take the socket for its own.
function listenFd() {
  const { LISTEN_PID, LISTEN_FDS } = process.env;
  delete process.env.LISTEN_PID;
  delete process.env.LISTEN_FDS;
  delete process.env.LISTEN_FDNAMES;
  if (LISTEN_PID !== String(process.pid) || !(Number(LISTEN_FDS) >= 1)) {
    console.error(`server.js: no listening socket passed (LISTEN_PID=${LISTEN_PID ?? ''} LISTEN_FDS=${LISTEN_FDS ?? ''}, pid ${process.pid}); run it under spread or systemd-socket-activate`);
    process.exit(1);
  }
  return LISTEN_FDS_START;
}

let draining = false;
// Every open connection, with the number of its requests in progress and
// the time it last had none.
const conns = new Map();

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://localhost');
  let ms = 0;
  if (url.pathname === '/delay') {
    ms = Number(url.searchParams.get('ms'));
    if (!Number.isInteger(ms) || ms < 0 || ms > 60000) {
      answer(res, 400, 'ms must be an integer between 0 and 60000\n');
      return;
    }
  }
  setTimeout(() => answer(res, 200, `hello from ${process.pid}\n`), ms);
});

function answer(res, status, body) {
  res.setHeader('X-Worker', String(process.pid));
  res.setHeader('Content-Type', 'text/plain; charset=utf-8');
  // Once draining, every answer is a connection's last: node closes it
  // after the response, so no keep-alive connection outlives the drain.
  if (draining) res.setHeader('Connection', 'close');
  res.writeHead(status);
  res.end(body);
}

server.on('connection', (socket) => {
  conns.set(socket, { busy: 0, since: Date.now() });
  socket.on('close', () => conns.delete(socket));
});
server.on('request', (req, res) => {
  const c = conns.get(req.socket);
  if (!c) return;
  c.busy++;
  res.on('close', () => {
    c.busy--;
    c.since = Date.now();
  });
});

// drain stops accepting and exits 0 once every connection is closed:
// requests in progress finish, keep-alive connections get one more answer
// with Connection: close, and connections silent for IDLE_SETTLE_MS are
// closed. Connections still queued on the slot's socket stay there for
// the next worker of the slot: spread keeps that socket open.
//
// It stops listening with net.Server's close, not http.Server's: since
// node 19 the latter also closes every idle keep-alive connection at once,
// cutting a request a client is sending at that instant.
function drain(signal) {
  if (draining) return;
  draining = true;
  console.error(`server.js: pid ${process.pid} got ${signal}: draining`);
  net.Server.prototype.close.call(server, () => process.exit(0));
  setInterval(() => {
    const now = Date.now();
    for (const [socket, c] of conns) {
      if (c.busy === 0 && now - c.since >= IDLE_SETTLE_MS) socket.destroy();
    }
  }, 100).unref();
}

// SIGTERM is spread's stop signal. SIGQUIT is its word for "you look
// hung": a worker that was only stopped can still finish its requests
// before spread's SIGKILL, instead of dying with them (node's default).
process.on('SIGTERM', () => drain('SIGTERM'));
process.on('SIGINT', () => drain('SIGINT'));
process.on('SIGQUIT', () => drain('SIGQUIT'));

// listen(2) on an already-listening socket sets its backlog again, and
// node's default is 511. Asking for the most leaves the kernel's cap,
// net.core.somaxconn, which is spread's default backlog. (With an fd,
// node takes the backlog from the second argument, not from options.)
server.listen({ fd: listenFd() }, 0x7fffffff);
