package e2e

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/spreadtest"
)

// The supervisor does not care which engine a worker runs: the fasthttp
// engine gets the same readiness, counting and graceful stop.
func TestFasthttpEngineAnswersCountsAndDrainsLikeNetHTTP(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "2", "--engine", "fasthttp")
	pids := s.WaitOnline(2, 10*time.Second)
	const k = 100
	for i := range k {
		r, err := s.Get("/")
		if err != nil || r.Status != 200 {
			t.Fatalf("request %d: %v %d", i, err, r.Status)
		}
		if want := fmt.Sprintf("Hello World from worker process %d", r.WorkerPid()); r.Body != want || !contains(pids, r.WorkerPid()) {
			t.Fatalf("GET / = %q (X-Worker %q), workers %v", r.Body, r.Worker, pids)
		}
	}
	if r, err := s.Get("/favicon.ico"); err != nil || r.Status != 204 || r.Body != "" {
		t.Fatalf("favicon: %v %+v", err, r)
	}
	if r, err := s.Get("/delay?ms=oops"); err != nil || r.Status != 400 {
		t.Fatalf("bad delay: %v %+v", err, r)
	}
	var sum uint64
	for _, w := range statusOf(t, s).Workers {
		sum += *w.Requests
	}
	if sum != k+1 { // the 400 counts as an answered request; the favicon does not
		t.Fatalf("status counts %d requests, want %d", sum, k+1)
	}

	done := make(chan spreadtest.Reply, 1)
	go func() {
		r, _ := s.Get("/delay?ms=1000")
		done <- r
	}()
	spreadtest.Eventually(t, 5*time.Second, "the /delay request to be accepted", func() bool {
		return spreadtest.Accepted(t, s.Addr) > 0
	})
	s.Signal(syscall.SIGTERM)
	if r := <-done; r.Status != 200 || !r.Close {
		t.Fatalf("in-flight request across SIGTERM: %d, Connection: close %v", r.Status, r.Close)
	}
	if code := s.Wait(10 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
