package supervisor

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These drills run recycling (recycle.go) on fake workers and the fake
// clock: a worker past a limit is replaced first and stopped second, one
// slot at a time.

// worker is slot i's current worker.
func (h *loopHarness) worker(i int) *worker {
	for _, sl := range h.s.slots {
		if sl.index == i {
			return sl.current
		}
	}
	return nil
}

// answered makes slot i's current worker count n answered requests.
func (h *loopHarness) answered(i int, n uint64) {
	h.s.board.entry(h.worker(i).board).status[1].Store(n)
}

func TestWorkerPastMaxRequestsIsReplacedFirstThenStopped(t *testing.T) {
	// A replacement takes a second to come online.
	h := newLoopHarness(t, Config{Workers: 2, MaxRequests: 100}, firstThen(healthy, time.Second))
	h.until("every worker online", time.Second, h.online)
	old := h.procs.of(1)[0]
	h.answered(0, 99) // one short of the limit
	h.answered(1, 100)
	h.until("slot 1's replacement starts", time.Second, func() bool { return len(h.procs.of(1)) == 2 })
	if old.gone || len(old.signals) > 0 {
		t.Fatalf("the old worker was signalled (%v) before its replacement was online", old.signals)
	}
	if h.s.recycling == nil || h.s.recycling.index != 1 || h.worker(1).recycle != limitRequests {
		t.Fatalf("recycling %v, want slot 1 at its %s limit", h.s.recycling, limitRequests)
	}
	h.until("the old worker is stopped", 5*time.Second, func() bool { return old.gone })
	if !old.got(syscall.SIGTERM) || h.current(1) != h.procs.of(1)[1].pid() {
		t.Fatalf("old worker got %v, slot 1 served by %d; want SIGTERM and the replacement serving", old.signals, h.current(1))
	}
	if n := h.s.status().Exits[reasonRecycled+limitRequests]; n != 1 {
		t.Errorf("exits %v, want one %q", h.s.status().Exits, reasonRecycled+limitRequests)
	}
	h.advance(2 * time.Second)
	if n := len(h.procs.of(0)); n != 1 {
		t.Errorf("slot 0, one request short of its limit, ran %d workers", n)
	}
	if h.s.recycling != nil {
		t.Error("a recycle is still marked running after it ended")
	}
}

func TestWorkersPastMaxAgeRecycleOneAtATime(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 3, MaxAge: time.Minute}, firstThen(healthy, time.Second))
	h.until("every worker online", time.Second, h.online)
	h.advance(59 * time.Second)
	if n := len(h.procs.procs); n != 3 {
		t.Fatalf("%d workers started before any reached max-age", n)
	}
	h.until("every worker replaced", time.Minute, func() bool {
		for i := range 3 {
			if len(h.procs.of(i)) < 2 {
				return false
			}
		}
		return true
	})
	// Workers started together reached their age together, yet the
	// replacements came one after the other.
	var starting int
	h.until("every replacement online", time.Minute, func() bool {
		n := 0
		for _, p := range h.procs.procs {
			if !p.gone && !p.readyAt.IsZero() {
				n++
			}
		}
		starting = max(starting, n)
		return h.online() && h.s.recycling == nil
	})
	if starting > 1 {
		t.Errorf("%d replacements were starting at once, want one at a time", starting)
	}
	for i := range 3 {
		if p := h.procs.of(i)[0]; !p.gone {
			t.Errorf("slot %d's first worker still runs past max-age", i)
		}
	}
	if n := h.s.status().Exits[reasonRecycled+limitAge]; n != 3 {
		t.Errorf("exits %v, want three %q", h.s.status().Exits, reasonRecycled+limitAge)
	}
}

func TestFailedRecycleKeepsTheOldWorkerAndWaitsBeforeTheNext(t *testing.T) {
	const backoff = 10 * time.Second
	h := newLoopHarness(t, Config{Workers: 1, MaxAge: time.Minute, MaxBackoff: backoff}, firstThen(diesYoung, 0))
	h.until("the worker online", time.Second, h.online)
	first := h.current(0)
	h.until("a replacement tried", 2*time.Minute, func() bool { return len(h.procs.of(0)) == 2 })
	h.settle()
	if h.current(0) != first || h.s.recycling != nil || h.worker(0).recycle != "" {
		t.Fatalf("after a failed recycle: slot served by %d (want %d), recycling %v, mark %q",
			h.current(0), first, h.s.recycling, h.worker(0).recycle)
	}
	failedAt := h.now
	h.until("a second try", time.Minute, func() bool { return len(h.procs.of(0)) == 3 })
	if waited := h.now.Sub(failedAt); waited < backoff {
		t.Errorf("the recycle was tried again after %s, want at least max-backoff %s", waited, backoff)
	}

	// A fork that fails holds off the next try the same way.
	h.procs.refuse = errors.New("fork: resource temporarily unavailable")
	failedAt = h.now
	h.advance(backoff + time.Second)
	if h.current(0) != first {
		t.Fatal("the old worker stopped serving after a refused fork")
	}
	if !h.worker(0).slot.recycleRetryAt.After(failedAt) {
		t.Error("no retry time set after a refused fork")
	}
}

func TestReloadAskedDuringARecycleRunsAfterIt(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 2, MaxRequests: 10}, firstThen(healthy, time.Second))
	h.until("every worker online", time.Second, h.online)
	h.answered(0, 10)
	h.until("the recycle starts", time.Second, func() bool { return h.s.recycling != nil })
	h.signal(syscall.SIGHUP)
	if h.s.reload != nil || !h.s.reloadAfterRecycle {
		t.Fatalf("reload running %v, queued %v; want it queued behind the recycle", h.s.reload != nil, h.s.reloadAfterRecycle)
	}
	h.until("the reload runs", 10*time.Second, func() bool { return h.s.reload != nil })
	if h.s.recycling != nil || h.s.reloadAfterRecycle {
		t.Fatal("the reload started before the recycle ended, or stayed queued")
	}
	h.until("the reload ends", time.Minute, func() bool { return h.s.lastReload != nil })
	if r := h.s.lastReload; r.Result != ReloadFinished {
		t.Fatalf("reload %+v, want finished", r)
	}
}

func TestLimitsGetTheirJitter(t *testing.T) {
	s := &supervisor{cfg: Config{MaxRequests: 100, MaxAge: time.Minute}}
	var w worker
	s.setLimits(&w)
	if w.maxRequests != 100 || w.maxAge != time.Minute {
		t.Fatalf("limits without jitter: %d, %s", w.maxRequests, w.maxAge)
	}
	s.cfg.MaxRequestsJitter, s.cfg.MaxAgeJitter = 3, 3
	seen := map[uint64]bool{}
	for range 200 {
		w = worker{}
		s.setLimits(&w)
		if w.maxRequests < 100 || w.maxRequests > 103 || w.maxAge < time.Minute || w.maxAge > time.Minute+3 {
			t.Fatalf("limits %d, %s outside the limit plus its jitter", w.maxRequests, w.maxAge)
		}
		seen[w.maxRequests] = true
	}
	if len(seen) != 4 {
		t.Errorf("200 draws gave request limits %v, want each of 100..103", seen)
	}
	if (&Config{}).recycles() || !(&Config{MaxMemory: 1}).recycles() {
		t.Error("recycles() wrong about which configs recycle")
	}
}

func TestStartFailureSaysWhy(t *testing.T) {
	s := &supervisor{}
	if got := s.startFailure(&worker{failure: "bind: denied"}); got != "bind: denied" {
		t.Errorf("startFailure with a reason = %q", got)
	}
	if got := s.startFailure(&worker{end: exitStatus{3, ""}}); !strings.Contains(got, "3") || !strings.Contains(got, "before coming online") {
		t.Errorf("startFailure without a reason = %q", got)
	}
	if got := formatBytes(3 << 20); got != "3.0MiB" {
		t.Errorf("formatBytes(3MiB) = %q", got)
	}
}
