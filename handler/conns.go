package handler

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// connState is where a connection is in its request cycle, as far as the
// drain needs to know.
type connState int32

const (
	stateNew    connState = iota // accepted; no byte of a request read yet
	stateActive                  // a request is being read or answered
	stateIdle                    // answered; waiting for the next request
)

// conn is an accepted connection as the drain sees it. The engines serve it
// like the connection it wraps; it adds what the drain needs to decide that
// closing it cuts no request.
type conn struct {
	net.Conn
	raw    syscall.RawConn // asks the socket for pending bytes; nil if it has none
	state  atomic.Int32    // a connState
	since  atomic.Int64    // monotime of the last change to stateNew or stateIdle
	closed atomic.Bool     // Close has been called, by the engine or the drain
	gone   atomic.Bool     // the engine reported it closed or hijacked
}

// Read marks the connection active as soon as bytes of a request have been
// read. The engine reports StateActive only later (net/http once the whole
// header is parsed), and the bytes in its buffer are no longer visible to
// SIOCINQ; without this mark the drain could take the connection for idle
// and close it under a request.
func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		if st := c.state.Load(); st != int32(stateActive) {
			c.state.CompareAndSwap(st, int32(stateActive))
		}
	}
	return n, err
}

// Close closes the connection and remembers that it did, so that the drain
// does not close it again.
func (c *conn) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}

// CloseWrite half-closes the connection, as net/http does before dropping a
// connection whose request body it would not read.
func (c *conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

func (c *conn) setState(st connState) {
	if st != stateActive {
		c.since.Store(monotime())
	}
	c.state.Store(int32(st))
}

// connTable holds the connections of a Server from Accept until the engine
// reports them closed, and calls the Recorder's connection events. The
// engines' ConnState hooks feed it.
type connTable struct {
	rec Recorder

	mu    sync.Mutex
	conns map[*conn]struct{}
}

func newConnTable(rec Recorder) *connTable {
	return &connTable{rec: rec, conns: make(map[*conn]struct{})}
}

// add wraps a just-accepted connection and holds it. It runs inside Accept,
// before the engine sees the connection, so that Shutdown cannot miss it.
func (t *connTable) add(nc net.Conn) *conn {
	c := &conn{Conn: nc}
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw = raw
		}
	}
	c.setState(stateNew)
	t.mu.Lock()
	t.conns[c] = struct{}{}
	t.mu.Unlock()
	return c
}

// opened, active, idle and closed are the engines' ConnState events.

func (t *connTable) opened(net.Conn) {
	t.rec.ConnOpened()
}

func (t *connTable) active(nc net.Conn) {
	if c, ok := tableConn(nc); ok {
		c.setState(stateActive)
	}
}

func (t *connTable) idle(nc net.Conn) {
	if c, ok := tableConn(nc); ok {
		c.setState(stateIdle)
	}
}

// closed forgets a connection the engine is done with, closed or hijacked,
// and reports it to the Recorder once.
func (t *connTable) closed(nc net.Conn) {
	c, ok := tableConn(nc)
	if !ok {
		t.rec.ConnClosed()
		return
	}
	if !c.gone.CompareAndSwap(false, true) {
		return
	}
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	t.rec.ConnClosed()
}

func (t *connTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

func (t *connTable) snapshot() []*conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	cs := make([]*conn, 0, len(t.conns))
	for c := range t.conns {
		cs = append(cs, c)
	}
	return cs
}

// listener hands every accepted connection to a connTable before the engine
// sees it. Close may be called by both Shutdown and the engine.
type listener struct {
	net.Listener
	conns *connTable

	once     sync.Once
	closeErr error
}

func (l *listener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return l.conns.add(nc), nil
}

func (l *listener) Close() error {
	l.once.Do(func() { l.closeErr = l.Listener.Close() })
	return l.closeErr
}

// epoch anchors monotime.
var epoch = time.Now()

// monotime is a monotonic clock in nanoseconds, cheap to store atomically.
func monotime() int64 {
	return int64(time.Since(epoch))
}
