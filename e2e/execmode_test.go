package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/spreadtest"
)

// execServer is the command line of testdata/execserver.py, a one-request-
// at-a-time server on fd 3 whose /spin route wedges it.
var execServer = []string{"--", "python3", "testdata/execserver.py"}

func execArgs(flags ...string) []string { return append(flags, execServer...) }

// hungEvents counts the log's "worker hung" events of either detector.
func hungEvents(s *spreadtest.Server) int {
	n := 0
	for _, msg := range []string{"worker hung: its slot's accept queue is not being accepted", "worker hung: no heartbeat"} {
		n += len(s.Log().Events(msg))
	}
	return n
}

func TestStoppedExecWorkerIsFoundByItsQueueAndItsQueueServed(t *testing.T) {
	s := spreadtest.Start(t, execArgs("--workers", "1", "--worker-timeout", "1s", "--ready-delay", "300ms")...)
	victim := s.WaitOnline(1, 10*time.Second)[0]
	spreadtest.StopProcess(t, victim)
	stopped := time.Now()
	const n = 12
	statuses := queuedRequests(t, s.Addr, n)
	spreadtest.Eventually(t, 5*time.Second, "the stopped worker to be replaced", func() bool {
		w := s.Workers()
		return !spreadtest.Alive(victim) && len(w) == 1
	})
	t.Logf("replaced %s after SIGSTOP", time.Since(stopped).Round(time.Millisecond))
	if ok := collect(t, statuses, n, 20*time.Second); ok != n {
		t.Fatalf("%d of %d queued requests got 200 across the hang", ok, n)
	}
	if len(s.Log().Events("worker hung: its slot's accept queue is not being accepted")) != 1 {
		t.Fatalf("want one accept-queue hang event:\n%s", s.Log())
	}
}

func TestSpinningExecWorkerIsKilledAsHungAndItsQueueServed(t *testing.T) {
	s := spreadtest.Start(t, execArgs("--workers", "1", "--worker-timeout", "1s", "--ready-delay", "300ms")...)
	victim := s.WaitOnline(1, 10*time.Second)[0]
	spin := queuedPath(t, s.Addr, "/spin")
	const n = 8
	statuses := queuedRequests(t, s.Addr, n)
	spreadtest.Eventually(t, 6*time.Second, "the spinning worker to be replaced", func() bool {
		return !spreadtest.Alive(victim) && len(s.Workers()) == 1
	})
	if ok := collect(t, statuses, n, 10*time.Second); ok != n {
		t.Fatalf("%d of %d requests queued behind the spinning one got 200", ok, n)
	}
	if st := <-spin; st == 200 {
		t.Fatal("the /spin request was answered: the worker was not spinning")
	}
}

func TestOverloadedExecWorkerThatStillAcceptsIsNeverKilled(t *testing.T) {
	s := spreadtest.Start(t, execArgs("--workers", "1", "--worker-timeout", "1s", "--ready-delay", "300ms")...)
	pid := s.WaitOnline(1, 10*time.Second)[0]
	// 24 requests of 150ms, served one at a time: 3.6s of queue, over
	// three worker timeouts, while the worker keeps accepting.
	const n = 24
	statuses := make(chan int, n)
	for range n {
		go func() {
			r, err := s.Get("/delay?ms=150")
			if err != nil {
				statuses <- 0
				return
			}
			statuses <- r.Status
		}()
	}
	sawQueue := false
	spreadtest.Eventually(t, 3*time.Second, "a queue on the busy slot", func() bool {
		_, queued := spreadtest.PortSockets(t, s.Addr)
		sawQueue = queued > 1
		return sawQueue
	})
	if ok := collect(t, statuses, n, 20*time.Second); ok != n {
		t.Fatalf("%d of %d requests to the busy worker got 200", ok, n)
	}
	if hungEvents(s) != 0 || !spreadtest.Alive(pid) {
		t.Fatalf("a busy worker that kept accepting was judged hung:\n%s", s.Log())
	}
}

func TestExecWorkerSilentAfterWatchdogIsHung(t *testing.T) {
	s := spreadtest.StartEnv(t, []string{"NOTIFY=1", "WATCHDOG_ONCE=1"},
		execArgs("--workers", "1", "--worker-timeout", "1s", "--ready", "notify")...)
	pid := s.WaitOnline(1, 10*time.Second)[0]
	spreadtest.Eventually(t, 5*time.Second, "the silent worker to be killed as hung", func() bool {
		return !spreadtest.Alive(pid)
	})
	if len(s.Log().Events("worker hung: no heartbeat")) == 0 {
		t.Fatalf("the worker was not killed for its watchdog silence:\n%s", s.Log())
	}
	s.WaitOnline(1, 10*time.Second)
}

func TestNotifyReadinessAndStatusShowInSpreadStatus(t *testing.T) {
	s := spreadtest.StartEnv(t, []string{"NOTIFY=1"},
		execArgs("--workers", "2", "--ready", "notify", "--ready-delay", "15s", "--start-timeout", "30s")...)
	start := time.Now()
	s.WaitOnline(2, 20*time.Second)
	if time.Since(start) > 14*time.Second {
		t.Fatalf("online only after %s: READY=1 was not what made the workers online", time.Since(start))
	}
	st := statusOf(t, s)
	if st.Command != "python3 testdata/execserver.py" {
		t.Fatalf("status command %q", st.Command)
	}
	for _, w := range st.Workers {
		if w.Requests != nil {
			t.Fatalf("slot %d: requests %d, want unknown (null) for a foreign command", w.Slot, *w.Requests)
		}
		if want := fmt.Sprintf("serving slot %d", w.Slot); w.Notified != want {
			t.Fatalf("slot %d: notify status %q, want %q", w.Slot, w.Notified, want)
		}
		if w.Queue != 0 || w.State != "online" {
			t.Fatalf("slot %d: state %s queue %d", w.Slot, w.State, w.Queue)
		}
	}
	out, _ := s.CLI("status")
	if !strings.Contains(out, "QUEUE") || !strings.Contains(out, "unknown requests") {
		t.Fatalf("status table lacks QUEUE or unknown requests:\n%s", out)
	}
}

func TestQueueLengthIsShownInStatusAndMetrics(t *testing.T) {
	mport := spreadtest.FreePort(t)
	s := spreadtest.Start(t, "--workers", "1", "--worker-timeout", "0", "--metrics-addr", fmt.Sprint(mport))
	pid := s.WaitOnline(1, 10*time.Second)[0]
	spreadtest.StopProcess(t, pid)
	const n = 5
	statuses := queuedRequests(t, s.Addr, n)
	spreadtest.Eventually(t, 5*time.Second, "5 connections in the queue", func() bool {
		return statusOf(t, s).Workers[0].Queue == n
	})
	r, err := spreadtest.Get(spreadtest.Client(), fmt.Sprintf("http://127.0.0.1:%d/metrics", mport))
	if err != nil || !strings.Contains(r.Body, `spread_slot_queue_length{slot="0"} 5`) {
		t.Fatalf("metrics lack the queue length (%v):\n%s", err, r.Body)
	}
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	if ok := collect(t, statuses, n, 10*time.Second); ok != n {
		t.Fatalf("%d of %d queued requests got 200", ok, n)
	}
	if st := statusOf(t, s); st.Workers[0].Queue != 0 || st.Workers[0].Requests == nil {
		t.Fatalf("after the queue drained: queue %d, requests %v", st.Workers[0].Queue, st.Workers[0].Requests)
	}
}

func TestExecWorkerGetsTheStopSignalAsked(t *testing.T) {
	// READY=1 comes once the handler is installed.
	s := spreadtest.StartEnv(t, []string{"STOP_SIGNAL=USR1", "NOTIFY=1"}, execArgs("--workers", "1", "--stop-signal", "USR1", "--ready", "notify")...)
	s.WaitOnline(1, 10*time.Second)
	s.Signal(syscall.SIGTERM)
	if code := s.Wait(15 * time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	exits := s.Log().Events("worker exited")
	if len(exits) != 1 || exits[0]["code"] != float64(0) || exits[0]["signal"] != "" {
		// python dies of SIGTERM (code -1, signal SIGTERM) unless it got
		// the USR1 it drains on.
		t.Fatalf("the worker did not drain on USR1: %v", exits)
	}
}

func TestKilledSupervisorTakesItsExecWorkersWithIt(t *testing.T) {
	s := spreadtest.Start(t, execArgs("--workers", "2", "--ready-delay", "300ms")...)
	pids := s.WaitOnline(2, 10*time.Second)
	s.Signal(syscall.SIGKILL)
	spreadtest.Eventually(t, 3*time.Second, "no exec worker left", func() bool {
		for _, p := range pids {
			if spreadtest.Alive(p) {
				return false
			}
		}
		return true
	})
}

// queuedPath sends one GET path on a new connection and yields its status
// (0 for a failure) once answered, or after 15s.
func queuedPath(t *testing.T, addr, path string) <-chan int {
	t.Helper()
	out := make(chan int, 1)
	go func() {
		r, err := spreadtest.Get(spreadtest.Client(), "http://"+addr+path)
		if err != nil {
			out <- 0
			return
		}
		out <- r.Status
	}()
	// The request must be in before the test queues others behind it.
	spreadtest.Eventually(t, 5*time.Second, path+" accepted", func() bool {
		return spreadtest.Accepted(t, addr) >= 1
	})
	return out
}
