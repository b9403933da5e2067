package e2e

import (
	"syscall"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/spreadtest"
)

// SIGQUIT is the fast stop: it does not wait for requests in flight. When
// it cuts one, the exit status says so, as a second SIGINT's does.
func TestSIGQUITThatCutsAnInFlightRequestExitsNonZero(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "2")
	s.WaitOnline(2, 10*time.Second)
	done := make(chan error, 1)
	go func() {
		_, err := s.Get("/delay?ms=5000")
		done <- err
	}()
	spreadtest.Eventually(t, 5*time.Second, "the /delay request to be accepted", func() bool {
		return spreadtest.Accepted(t, s.Addr) > 0
	})
	// Guard: the worker has counted the connection the stop is to cut.
	spreadtest.Eventually(t, 5*time.Second, "one open connection in the status", func() bool {
		return openConns(t, s) == 1
	})
	s.Signal(syscall.SIGQUIT)
	if code := s.Wait(5 * time.Second); code != 1 {
		t.Fatalf("exit code %d after a SIGQUIT that cut a request, want 1", code)
	}
	if err := <-done; err == nil {
		t.Fatal("the in-flight request was answered: SIGQUIT did not stop fast")
	}
	assertOneErrorLine(t, s.Log().String(), "SIGQUIT: fast stop cut 1 open client connection")
}

// A fast stop that cuts nothing is a clean end.
func TestSIGQUITOfAnIdleServerExitsZero(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "2")
	s.WaitOnline(2, 10*time.Second)
	if r, err := s.Get("/"); err != nil || r.Status != 200 {
		t.Fatalf("GET /: %v %d", err, r.Status)
	}
	spreadtest.Eventually(t, 5*time.Second, "no open connection in the status", func() bool {
		return openConns(t, s) == 0
	})
	s.Signal(syscall.SIGQUIT)
	if code := s.Wait(5 * time.Second); code != 0 {
		t.Fatalf("exit code %d after a SIGQUIT with nothing in flight, want 0", code)
	}
}

// openConns sums the open client connections the status reports.
func openConns(t *testing.T, s *spreadtest.Server) int64 {
	var n int64
	for _, w := range statusOf(t, s).Workers {
		n += w.Counts.Open
	}
	return n
}
