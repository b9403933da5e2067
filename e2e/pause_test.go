package e2e

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/spreadtest"
)

const hungEvent = "worker hung: sending SIGQUIT for a goroutine dump"

// A supervisor stopped for longer than --worker-timeout finds, when
// continued, heartbeats it has not read yet: its workers were healthy all
// along, and none may be killed as hung.
func TestPausedSupervisorKeepsItsHealthyWorkers(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "6", "--worker-timeout", "2s")
	before := s.WaitOnline(6, 15*time.Second)
	type result struct {
		r   spreadtest.Reply
		err error
	}
	inFlight := make(chan result, 1)
	go func() {
		r, err := s.Get("/delay?ms=9000")
		inFlight <- result{r, err}
	}()
	spreadtest.Eventually(t, 5*time.Second, "the /delay request to be accepted", func() bool {
		return spreadtest.Accepted(t, s.Addr) > 0
	})

	// Which the loop serves first once continued, its overdue timer or the
	// waiting heartbeats, is up to chance: two pauses make a wrong verdict
	// far more likely to show.
	for round := 1; round <= 2; round++ {
		spreadtest.StopProcess(t, s.Pid())
		// The pause is the scenario: 2.5 times the worker timeout.
		time.Sleep(5 * time.Second)
		if err := syscall.Kill(s.Pid(), syscall.SIGCONT); err != nil {
			t.Fatal(err)
		}
		// Once continued, the supervisor must say it noticed the pause:
		// else this test proved nothing.
		waitEvents(t, s, "supervisor was not running: heartbeat deadlines moved", round, 5*time.Second)
		// Watch for longer than a worker timeout: a wrong verdict comes
		// at once.
		until := time.Now().Add(2500 * time.Millisecond)
		for time.Now().Before(until) {
			if n := len(s.Log().Events(hungEvent)); n > 0 {
				t.Fatalf("%d healthy workers killed as hung after the supervisor's pause", n)
			}
			if got := s.Workers(); fmt.Sprint(got) != fmt.Sprint(before) {
				t.Fatalf("workers changed from %v to %v after the supervisor's pause", before, got)
			}
			if r, err := s.Get("/"); err != nil || r.Status != 200 {
				t.Fatalf("GET / after the pause: %v %+v", err, r)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	select {
	case res := <-inFlight:
		if res.err != nil || res.r.Status != 200 {
			t.Fatalf("request in flight across the pause: %v, status %d", res.err, res.r.Status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the request in flight across the pause did not end")
	}
}
