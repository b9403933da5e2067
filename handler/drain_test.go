//go:build linux

package handler

import (
	"context"
	"errors"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// waitSent waits until the kernel has delivered every byte c wrote: the
// server's socket has acknowledged them (SIOCOUTQ is 0), so they sit in its
// receive queue or have been read.
func (c *client) waitSent() {
	c.t.Helper()
	raw, err := c.c.SyscallConn()
	if err != nil {
		c.t.Fatal(err)
	}
	waitFor(c.t, "the request bytes to reach the server's socket", 2*time.Second, func() bool {
		unsent := -1
		_ = raw.Control(func(fd uintptr) {
			if n, err := unix.IoctlGetInt(int(fd), unix.SIOCOUTQ); err == nil {
				unsent = n
			}
		})
		return unsent == 0
	})
}

func TestShutdownLetsInFlightDelayFinishWithConnectionClose(t *testing.T) {
	for _, engine := range Engines {
		t.Run(testName(engine), func(t *testing.T) {
			r := start(t, engine, nil)
			c := dial(t, r.addr)
			c.send("/delay?ms=500")
			sc := r.serverConn(t)
			waitFor(t, "the /delay request to be in its handler", 2*time.Second, func() bool {
				return connState(sc.state.Load()) == stateActive
			})

			expectLastHello(t, c, r, r.shutdown(5*time.Second))
			if o, cl := r.rec.opened.Load(), r.rec.closed.Load(); o != 1 || cl != 1 {
				t.Fatalf("ConnOpened %d, ConnClosed %d after Shutdown; want 1 and 1", o, cl)
			}
		})
	}
}

func TestShutdownClosesIdleKeepAliveConnWithinOneSecond(t *testing.T) {
	for _, engine := range Engines {
		t.Run(testName(engine), func(t *testing.T) {
			r := start(t, engine, nil)
			c := dial(t, r.addr)
			c.send("/")
			resp, body := c.response()
			expectHello(t, resp, body)
			if resp.Close {
				t.Fatal("first response closes the connection, want keep-alive")
			}

			began := time.Now()
			// A context of one second is the bar: Shutdown must finish the
			// drain, not run out of time.
			if err := waitResult(t, "Shutdown", r.shutdown(time.Second), 2*time.Second); err != nil {
				t.Fatalf("Shutdown with an idle connection: %v after %v", err, time.Since(began))
			}
			c.expectClosed()
			r.expectStopped(t)
		})
	}
}

// gatedListener holds back the server's reads: each accepted connection
// serves its first openReads reads, and later reads wait until release is
// closed, leaving the client's bytes in the kernel's receive queue. A read
// deadline in the past still ends a held read, as net/http uses one to stop
// its background read after each request.
type gatedListener struct {
	net.Listener
	openReads int64
	release   chan struct{}
}

func (l *gatedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &gatedConn{TCPConn: c.(*net.TCPConn), openReads: l.openReads, release: l.release}, nil
}

type gatedConn struct {
	*net.TCPConn
	openReads int64
	release   <-chan struct{}
	reads     atomic.Int64
	deadline  atomic.Int64 // read deadline in Unix nanoseconds; 0 for none
}

func (c *gatedConn) Read(p []byte) (int, error) {
	if c.reads.Load() >= c.openReads {
		if err := c.hold(); err != nil {
			return 0, err
		}
	}
	n, err := c.TCPConn.Read(p)
	if n > 0 {
		c.reads.Add(1)
	}
	return n, err
}

func (c *gatedConn) hold() error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-c.release:
			return nil
		case <-tick.C:
			if d := c.deadline.Load(); d != 0 && time.Now().UnixNano() >= d {
				return os.ErrDeadlineExceeded
			}
		}
	}
}

func (c *gatedConn) setDeadline(t time.Time) {
	if t.IsZero() {
		c.deadline.Store(0)
		return
	}
	c.deadline.Store(t.UnixNano())
}

func (c *gatedConn) SetReadDeadline(t time.Time) error {
	c.setDeadline(t)
	return c.TCPConn.SetReadDeadline(t)
}

func (c *gatedConn) SetDeadline(t time.Time) error {
	c.setDeadline(t)
	return c.TCPConn.SetDeadline(t)
}

func TestShutdownAnswersRequestWaitingInSocket(t *testing.T) {
	for _, engine := range Engines {
		t.Run(testName(engine), func(t *testing.T) {
			t.Run("keep-alive", func(t *testing.T) {
				gl, r := startGated(t, engine, 1)
				c := dial(t, r.addr)
				c.send("/")
				resp, body := c.response()
				expectHello(t, resp, body)

				// The next request reaches the server's socket, but the
				// server has not read it when Shutdown begins.
				c.send("/")
				c.waitSent()
				sc := r.serverConn(t)
				expectUnread(t, sc)
				drained := r.shutdown(5 * time.Second)
				s0 := r.srv.sweeps.Load()
				waitFor(t, "three sweeps past the idle settle time", 2*time.Second, func() bool {
					return r.srv.sweeps.Load() >= s0+3
				})
				answerAfterRelease(t, gl, r, c, sc, drained)
			})
			t.Run("fresh connection past its grace", func(t *testing.T) {
				gl, r := startGated(t, engine, 0)
				c := dial(t, r.addr)
				sc := r.serverConn(t)
				c.send("/")
				c.waitSent()
				expectUnread(t, sc)
				drained := r.shutdown(5 * time.Second)
				waitFor(t, "the connection to outlive its grace as new", 3*time.Second, func() bool {
					return monotime()-sc.since.Load() > int64(newConnGrace)
				})
				s0 := r.srv.sweeps.Load()
				waitFor(t, "two sweeps past the grace", 2*time.Second, func() bool {
					return r.srv.sweeps.Load() >= s0+2
				})
				answerAfterRelease(t, gl, r, c, sc, drained)
			})
		})
	}
}

func startGated(t *testing.T, engine string, openReads int64) (*gatedListener, *running) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gl := &gatedListener{Listener: ln, openReads: openReads, release: make(chan struct{})}
	t.Cleanup(func() {
		select {
		case <-gl.release:
		default:
			close(gl.release)
		}
	})
	return gl, start(t, engine, gl)
}

func expectUnread(t *testing.T, sc *conn) {
	t.Helper()
	if n := pendingBytes(sc.raw); n == 0 {
		t.Fatal("SIOCINQ reports no pending bytes for a request the server has not read")
	}
	if st := connState(sc.state.Load()); st == stateActive {
		t.Fatal("connection is active before the server read its request")
	}
}

// answerAfterRelease checks that the sweeps left the connection open, lets
// the server read, and expects the request answered with Connection: close.
func answerAfterRelease(t *testing.T, gl *gatedListener, r *running, c *client, sc *conn, drained <-chan error) {
	t.Helper()
	if sc.closed.Load() {
		t.Fatal("Shutdown closed a connection whose request was waiting in the socket")
	}
	close(gl.release)
	expectLastHello(t, c, r, drained)
}

func TestShutdownStopsAcceptingAndServeReturnsNil(t *testing.T) {
	for _, engine := range Engines {
		t.Run(testName(engine), func(t *testing.T) {
			r := start(t, engine, nil)
			c := dial(t, r.addr) // proves the server is up
			c.send("/healthz")
			if resp, body := c.response(); resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("healthz: %d %q", resp.StatusCode, body)
			}
			if err := waitResult(t, "Shutdown", r.shutdown(time.Second), 2*time.Second); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			r.expectStopped(t)
		})
	}
}

func TestServeAfterShutdownReturnsNilAndClosesListener(t *testing.T) {
	for _, engine := range Engines {
		t.Run(testName(engine), func(t *testing.T) {
			srv, err := New(Options{Engine: engine})
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Shutdown(context.Background()); err != nil {
				t.Fatalf("Shutdown of an idle server: %v", err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Serve(ln); err != nil {
				t.Fatalf("Serve after Shutdown = %v, want nil", err)
			}
			if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Accept after Serve returned: %v, want net.ErrClosed", err)
			}
		})
	}
}

func TestServeReportsListenerClosedOutsideShutdown(t *testing.T) {
	for _, engine := range Engines {
		t.Run(testName(engine), func(t *testing.T) {
			srv, err := New(Options{Engine: engine})
			if err != nil {
				t.Fatal(err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			waitFor(t, "Serve to register its listener", 2*time.Second, func() bool {
				srv.mu.Lock()
				defer srv.mu.Unlock()
				return srv.serving == 1
			})
			ln.Close()
			if err := waitResult(t, "Serve", served, 2*time.Second); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("Serve = %v, want an error wrapping net.ErrClosed", err)
			}
		})
	}
}

func TestShutdownForceClosesWhenContextEnds(t *testing.T) {
	for _, engine := range Engines {
		t.Run(testName(engine), func(t *testing.T) {
			r := start(t, engine, nil)
			c := dial(t, r.addr)
			c.send("/delay?ms=1500")
			sc := r.serverConn(t)
			waitFor(t, "the /delay request to be in its handler", 2*time.Second, func() bool {
				return connState(sc.state.Load()) == stateActive
			})
			err := waitResult(t, "Shutdown", r.shutdown(100*time.Millisecond), 2*time.Second)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Shutdown = %v, want context.DeadlineExceeded", err)
			}
			c.expectClosed()
			r.expectStopped(t)
		})
	}
}

func TestShutdownClosesSilentNewConnAfterGrace(t *testing.T) {
	for _, engine := range Engines {
		t.Run(testName(engine), func(t *testing.T) {
			r := start(t, engine, nil)
			c := dial(t, r.addr)
			r.serverConn(t) // accepted, nothing sent
			began := time.Now()
			if err := waitResult(t, "Shutdown", r.shutdown(5*time.Second), 5*time.Second); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			if took := time.Since(began); took > newConnGrace+time.Second {
				t.Fatalf("Shutdown took %v with a silent connection, want about %v", took, newConnGrace)
			}
			c.expectClosed()
			r.expectStopped(t)
		})
	}
}

func TestSweepClosesOnlyConnsWithNothingPending(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cl := dial(t, ln.Addr().String())
	nc, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	rec := &countingRecorder{}
	table := newConnTable(rec)
	c := table.add(nc)
	defer c.Close()
	old := func() { c.since.Store(monotime() - int64(2*newConnGrace)) }

	c.setState(stateNew)
	table.sweep(monotime())
	if c.closed.Load() {
		t.Fatal("sweep closed a connection accepted just now")
	}

	cl.send("/")
	cl.waitSent()
	c.setState(stateIdle)
	old()
	table.sweep(monotime())
	if c.closed.Load() {
		t.Fatal("sweep closed an idle connection with a request in its receive queue")
	}

	buf := make([]byte, 4096)
	if _, err := c.Read(buf); err != nil {
		t.Fatal(err)
	}
	if st := connState(c.state.Load()); st != stateActive {
		t.Fatalf("state after reading a request = %d, want active", st)
	}
	table.sweep(monotime())
	if c.closed.Load() {
		t.Fatal("sweep closed a connection whose request has been read")
	}

	c.setState(stateIdle)
	if table.sweep(monotime()); c.closed.Load() {
		t.Fatal("sweep closed a connection idle for less than idleSettle")
	}
	old()
	table.sweep(monotime())
	if !c.closed.Load() {
		t.Fatal("sweep left open an idle connection with nothing pending")
	}
	cl.expectClosed()
}
