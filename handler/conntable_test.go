package handler

import (
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"
)

// The engines may report a connection closed more than once (closed, then
// hijacked; or a TLS wrapper and its conn): the Recorder hears it once and
// the table forgets it once. A connection the table never held (none in
// practice) is still counted.
func TestConnTableReportsEachCloseOnce(t *testing.T) {
	rec := &countingRecorder{}
	table := newConnTable(rec)
	a, b := net.Pipe()
	defer b.Close()
	c := table.add(a)
	table.opened(c)
	if table.len() != 1 || rec.opened.Load() != 1 {
		t.Fatalf("after add: %d conns, %d opened", table.len(), rec.opened.Load())
	}
	table.closed(tls.Server(c, &tls.Config{})) // as the TLS engine reports it
	table.closed(c)
	if table.len() != 0 || rec.closed.Load() != 1 {
		t.Fatalf("after two reports of one close: %d conns, %d closed; want 0 and 1", table.len(), rec.closed.Load())
	}
	x, y := net.Pipe()
	defer x.Close()
	defer y.Close()
	table.closed(x)
	if rec.closed.Load() != 2 {
		t.Fatalf("a connection from outside the table was not counted: %d closed", rec.closed.Load())
	}
}

// since is the time of the last change to new or idle; a request does not
// move it, so the idle time counts from the end of the last answer.
func TestConnStateEventsMoveSinceOnlyForNewAndIdle(t *testing.T) {
	table := newConnTable(&countingRecorder{})
	a, b := net.Pipe()
	defer b.Close()
	c := table.add(a)
	if connState(c.state.Load()) != stateNew || c.since.Load() == 0 {
		t.Fatal("an added conn is not new with its time set")
	}
	c.since.Store(1)
	table.active(c)
	if connState(c.state.Load()) != stateActive || c.since.Load() != 1 {
		t.Fatalf("active: state %d since %d; want active and since unchanged", c.state.Load(), c.since.Load())
	}
	table.idle(c)
	if connState(c.state.Load()) != stateIdle || c.since.Load() <= 1 {
		t.Fatalf("idle: state %d since %d; want idle and since now", c.state.Load(), c.since.Load())
	}
	// Events for a connection the table does not hold change nothing.
	x, y := net.Pipe()
	defer x.Close()
	defer y.Close()
	table.active(x)
	table.idle(x)
}

func TestConnCloseIsRememberedAndCloseWriteNeedsATCPConn(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	c := &conn{Conn: a}
	if err := c.CloseWrite(); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("CloseWrite on a pipe: %v, want ErrUnsupported", err)
	}
	if err := c.Close(); err != nil || !c.closed.Load() {
		t.Fatalf("Close: %v, closed %v", err, c.closed.Load())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	tc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if err := (&conn{Conn: tc}).CloseWrite(); err != nil {
		t.Fatalf("CloseWrite on TCP: %v", err)
	}
}

func TestListenerClosesOnceAndWrapsWhatItAccepts(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	table := newConnTable(&countingRecorder{})
	l := &listener{Listener: inner, conns: table}
	done := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			close(done)
			return
		}
		done <- c
	}()
	cl, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var got net.Conn
	select {
	case c, ok := <-done:
		if !ok {
			t.Fatal("Accept failed")
		}
		got = c
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted within 5s")
	}
	defer got.Close()
	if _, ok := got.(*conn); !ok || table.len() != 1 {
		t.Fatalf("Accept returned a %T, table holds %d; want a tracked *conn", got, table.len())
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v, want the first's result (nil)", err)
	}
	if _, err := l.Accept(); err == nil {
		t.Fatal("Accept on a closed listener succeeded")
	}
}
