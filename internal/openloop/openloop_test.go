package openloop

import (
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestEveryRequestOfAHealthyServerIsAnsweredAtTheRate(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	res := Load{Addr: srv.Listener.Addr().String(), Rate: 200, Duration: time.Second, Timeout: 5 * time.Second}.Run(nil)
	if res.Sent != 200 || res.Failed != 0 || len(res.Latencies) != 200 {
		t.Fatalf("sent %d, failed %d, answered %d; want 200 sent and answered in 1 s at 200/s", res.Sent, res.Failed, len(res.Latencies))
	}
	if p := res.Percentile(50); p <= 0 || p > res.Percentile(100) {
		t.Fatalf("p50 %v, max %v", p, res.Percentile(100))
	}
}

func TestFailuresAreCountedByKind(t *testing.T) {
	// Refused: a port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	if res := (Load{Addr: closed, Rate: 20, Duration: 500 * time.Millisecond, Timeout: time.Second}).Run(nil); res.Refused != res.Sent || res.Sent != 10 {
		t.Fatalf("closed port: %+v, want all 10 refused", res)
	}

	// Timeout: a listener that never accepts (the kernel completes the
	// handshake and queues the connection; nobody answers).
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	if res := (Load{Addr: mute.Addr().String(), Rate: 20, Duration: 250 * time.Millisecond, Timeout: 200 * time.Millisecond}).Run(nil); res.Timeout != res.Sent || res.Sent == 0 {
		t.Fatalf("mute listener: %+v, want every request timed out", res)
	}

	// Reset: accepted, then closed with SO_LINGER 0 (an RST).
	rst, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer rst.Close()
	go func() {
		for {
			c, err := rst.Accept()
			if err != nil {
				return
			}
			buf := make([]byte, 512)
			_, _ = c.Read(buf)
			_ = c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	if res := (Load{Addr: rst.Addr().String(), Rate: 20, Duration: 250 * time.Millisecond, Timeout: 2 * time.Second}).Run(nil); res.Reset != res.Sent || res.Sent == 0 {
		t.Fatalf("resetting server: %+v, want every request reset", res)
	}
}
