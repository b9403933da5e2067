package supervisor

import (
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A connection held back by TCP_DEFER_ACCEPT (handshake done, no request
// yet) is in no accept queue: the stop's flush must see it in the
// handshake count, and stop seeing it once it is queued.
func TestHandshakesUnderWayCountsADeferredConnection(t *testing.T) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT, 5)
		}); err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(t.Context(), "tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	if n := handshakesUnderWay(addr); n != 0 {
		t.Fatalf("%d handshakes under way before any client", n)
	}
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pollFor(t, "the deferred connection counted", func() bool { return handshakesUnderWay(addr) == 1 })
	if _, err := c.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	pollFor(t, "the connection queued, no longer counted", func() bool { return handshakesUnderWay(addr) == 0 })
	if n := handshakesUnderWay("no port"); n != 0 {
		t.Errorf("%d handshakes for an address without a port", n)
	}
}

// pollFor polls cond for up to 5 s.
func pollFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 5s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
