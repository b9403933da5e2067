package reuseport

import (
	"net"
	"strings"
	"testing"
	"time"
)

// A connection held back by TCP_DEFER_ACCEPT (handshake done, no request
// yet) is in no accept queue: HandshakesUnderWay counts it until its
// request arrives and it is queued.
func TestHandshakesUnderWayCountsADeferredConnection(t *testing.T) {
	ln, err := ListenWith(t.Context(), "127.0.0.1:0", Options{DeferAccept: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	count := func() int {
		t.Helper()
		n, err := HandshakesUnderWay(addr)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 0 {
		t.Fatalf("%d handshakes under way before any client", n)
	}
	c, err := net.Dial("tcp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	pollFor(t, "the deferred connection counted", func() bool { return count() == 1 })
	if _, err := c.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	pollFor(t, "the connection queued, no longer counted", func() bool { return count() == 0 })
}

func TestHandshakesUnderWayNamesABadAddress(t *testing.T) {
	for _, addr := range []string{"no port", "127.0.0.1:http0"} {
		if _, err := HandshakesUnderWay(addr); err == nil || !strings.Contains(err.Error(), addr) {
			t.Errorf("HandshakesUnderWay(%q): %v, want an error naming it", addr, err)
		}
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
