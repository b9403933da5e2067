package handler

import (
	"time"
)

const (
	// pollInterval is how often Shutdown sweeps for idle connections.
	pollInterval = 25 * time.Millisecond

	// idleSettle is how long a connection must have been idle before the
	// drain closes it. A keep-alive client that has just read a response
	// sends its next request a moment later; on a loaded machine that
	// moment can be tens of milliseconds, and closing the connection then
	// cuts a request already on its way (measured: 10 ms lost requests in
	// the reload tests). A client that has stayed silent this long is
	// idle for real. It also covers a request pipelined behind the previous
	// one, already in the engine's buffer where SIOCINQ cannot see it.
	idleSettle = 500 * time.Millisecond

	// newConnGrace is how long a connection may stay accepted with no byte
	// of a request before the drain treats it as idle. Its client may have
	// just connected with the request still on the wire, and a client does
	// not retry a request cut on a fresh connection the way it retries on a
	// reused keep-alive one.
	newConnGrace = time.Second
)

// sweep closes every connection that can be closed without cutting a
// request, and returns how many connections remain in the table, those it
// just closed included: they leave the table when their engine reports them
// closed, so that an empty table means every handler goroutine is done.
//
// A connection is closed only if all of these hold:
//   - it is idle for at least idleSettle, or new for at least newConnGrace;
//   - no byte of a request has been read from it since (conn.Read);
//   - the kernel holds no unread byte for it (SIOCINQ is 0).
//
// A connection with pending bytes is left alone: its engine reads the
// request, answers it with Connection: close and closes it. One race
// remains, and no server can close it: a request that reaches the socket
// between the SIOCINQ check and close(2) is reset. HTTP lets a server close
// an idle keep-alive connection at any time, and clients retry idempotent
// requests cut that way (RFC 9112, section 9.3.1).
func (t *connTable) sweep(now int64) int {
	for _, c := range t.snapshot() {
		if c.closed.Load() || !closable(c, now) {
			continue
		}
		_ = c.Close()
	}
	return t.len()
}

// closable reports whether c can be closed without cutting a request.
func closable(c *conn, now int64) bool {
	st := connState(c.state.Load())
	since := c.since.Load()
	switch st {
	case stateIdle:
		if now-since < int64(idleSettle) {
			return false
		}
	case stateNew:
		if now-since < int64(newConnGrace) {
			return false
		}
	default:
		return false
	}
	if pendingBytes(c.raw) > 0 {
		return false
	}
	// Look again: the request may have been read while the kernel was asked.
	return connState(c.state.Load()) == st && c.since.Load() == since
}

// closeAll closes every connection, busy or not, for a drain whose deadline
// has passed.
func (t *connTable) closeAll() {
	for _, c := range t.snapshot() {
		_ = c.Close()
	}
}
