package handler

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// headStatus sends one request whose head (request line, headers and the
// blank line) is exactly size bytes, and returns the answer's status, or 0
// when the server closed without one.
func headStatus(t *testing.T, addr string, size int) int {
	t.Helper()
	const frame = "GET / HTTP/1.1\r\nHost: spread\r\nConnection: close\r\nX-Pad: \r\n\r\n"
	pad := size - len(frame)
	if pad < 1 {
		t.Fatalf("a head of %d bytes is too small to pad", size)
	}
	req := strings.Replace(frame, "X-Pad: ", "X-Pad: "+strings.Repeat("a", pad), 1)
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte(req)); err != nil {
		return 0
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// largestHead is the largest request head the server at addr answers
// with 200, searched between lo (answered) and hi (refused).
func largestHead(t *testing.T, addr string, lo, hi int) int {
	t.Helper()
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if headStatus(t, addr, mid) == http.StatusOK {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo
}

func TestMaxHeaderBytesMeansTheSameInBothEngines(t *testing.T) {
	for _, engine := range Engines {
		for _, limit := range []int{MinHeaderBytes, 16 << 10} {
			t.Run(fmt.Sprintf("%s-%d", testName(engine), limit), func(t *testing.T) {
				srv, err := New(Options{Engine: engine, MaxHeaderBytes: limit, Log: zerolog.New(zerolog.NewTestWriter(t))})
				if err != nil {
					t.Fatal(err)
				}
				ln, err := net.Listen("tcp", "127.0.0.1:0")
				if err != nil {
					t.Fatal(err)
				}
				go func() { _ = srv.Serve(ln) }()
				defer srv.Shutdown(t.Context())
				if got := largestHead(t, ln.Addr().String(), 100, 4*limit); got != limit {
					t.Fatalf("%s with MaxHeaderBytes %d answers heads up to %d bytes, want %d", engine, limit, got, limit)
				}
				if st := headStatus(t, ln.Addr().String(), limit+1); st != http.StatusRequestHeaderFieldsTooLarge {
					t.Fatalf("%s answers a head 1 byte too large with %d, want 431", engine, st)
				}
			})
		}
	}
}

func TestMaxHeaderBytesOutOfBoundsIsRefused(t *testing.T) {
	for _, m := range []int{-1, 1024, MinHeaderBytes - 1, MaxHeaderBytesLimit + 1} {
		if _, err := New(Options{MaxHeaderBytes: m}); err == nil {
			t.Errorf("New accepted MaxHeaderBytes %d", m)
		}
	}
}
