package handler

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

const (
	testSlot = 7
	testPid  = 4242
	hello    = "Hello World from worker process 4242"
	xWorker  = "7/4242"
)

// countingRecorder is a Recorder for tests.
type countingRecorder struct {
	requests atomic.Int64
	byStatus [600]atomic.Int64
	opened   atomic.Int64
	closed   atomic.Int64
}

func (r *countingRecorder) RequestDone(status int) {
	r.requests.Add(1)
	r.byStatus[status].Add(1)
}
func (r *countingRecorder) ConnOpened() { r.opened.Add(1) }
func (r *countingRecorder) ConnClosed() { r.closed.Add(1) }

// testName turns an engine name into a subtest name without a slash.
func testName(engine string) string {
	return strings.ReplaceAll(engine, "/", "-")
}

// running is a Server serving on a loopback listener.
type running struct {
	srv    *Server
	rec    *countingRecorder
	addr   string
	served chan error // Serve's result
}

// start serves a new Server for engine on ln, or on a fresh 127.0.0.1:0
// listener if ln is nil; adjust, when given, changes its Options first.
// Cleanup drains it.
func start(t *testing.T, engine string, ln net.Listener, adjust ...func(*Options)) *running {
	t.Helper()
	rec := &countingRecorder{}
	o := Options{
		Slot:     testSlot,
		Pid:      testPid,
		Engine:   engine,
		Recorder: rec,
		Log:      zerolog.New(zerolog.NewTestWriter(t)),
	}
	for _, f := range adjust {
		f(&o)
	}
	srv, err := New(o)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if ln == nil {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("listen: %v", err)
		}
	}
	r := &running{srv: srv, rec: rec, addr: ln.Addr().String(), served: make(chan error, 1)}
	go func() { r.served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return r
}

// shutdown starts Shutdown with a timeout and returns its result channel.
func (r *running) shutdown(timeout time.Duration) <-chan error {
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		done <- r.srv.Shutdown(ctx)
	}()
	return done
}

// expectStopped checks that Serve returned nil and that the port no longer
// accepts connections.
func (r *running) expectStopped(t *testing.T) {
	t.Helper()
	select {
	case err := <-r.served:
		if err != nil {
			t.Fatalf("Serve returned %v after Shutdown, want nil", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Serve had not returned 2s after Shutdown")
	}
	c, err := net.DialTimeout("tcp", r.addr, time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("dial %s succeeded after Shutdown, want refused", r.addr)
	}
}

// serverConn returns the only connection the server holds.
func (r *running) serverConn(t *testing.T) *conn {
	t.Helper()
	var cs []*conn
	waitFor(t, "the server to hold exactly one connection", 2*time.Second, func() bool {
		cs = r.srv.conns.snapshot()
		return len(cs) == 1
	})
	return cs[0]
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitResult receives from ch, failing the test after timeout.
func waitResult(t *testing.T, what string, ch <-chan error, timeout time.Duration) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(timeout):
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
		return nil
	}
}

// client is a raw HTTP/1.1 client on one TCP connection, so tests control
// exactly which bytes are sent and when.
type client struct {
	t  *testing.T
	c  *net.TCPConn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *client {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c.(*net.TCPConn), br: bufio.NewReader(c)}
}

// send writes a GET request for target.
func (c *client) send(target string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, "GET "+target+" HTTP/1.1\r\nHost: spread\r\n\r\n"); err != nil {
		c.t.Fatalf("send %s: %v", target, err)
	}
}

// response reads one response and its body.
func (c *client) response() (*http.Response, string) {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("read body: %v", err)
	}
	return resp, string(body)
}

// expectClosed checks that the server has closed the connection.
func (c *client) expectClosed() {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	var buf [1]byte
	n, err := c.br.Read(buf[:])
	switch {
	case n > 0:
		c.t.Fatalf("read %q, want the connection closed", buf[:n])
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET):
	default:
		c.t.Fatalf("read: %v, want the connection closed", err)
	}
}

// expectHello checks a 200 answer of the hello page.
func expectHello(t *testing.T, resp *http.Response, body string) {
	t.Helper()
	if resp.StatusCode != 200 || body != hello {
		t.Fatalf("got %d %q, want 200 %q", resp.StatusCode, body, hello)
	}
	if got := resp.Header.Get("X-Worker"); got != xWorker {
		t.Fatalf("X-Worker = %q, want %q", got, xWorker)
	}
}

// expectLastHello checks the end of a drain seen from one client: its
// request is answered with Connection: close, the connection closes, and
// Shutdown returns nil with the server stopped.
func expectLastHello(t *testing.T, c *client, r *running, drained <-chan error) {
	t.Helper()
	resp, body := c.response()
	expectHello(t, resp, body)
	if !resp.Close {
		t.Fatal("response does not carry Connection: close")
	}
	c.expectClosed()
	if err := waitResult(t, "Shutdown", drained, 5*time.Second); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	r.expectStopped(t)
}
