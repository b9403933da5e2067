package supervisor

import (
	"os"
	"syscall"
	"testing"
	"time"
)

// These tests pin recycling's and reloading's edges: limits that are off
// stay off whatever their jitter, a limit reached exactly counts, and a
// failed replacement is no restart of a slot whose old worker serves on.

func TestLimitsThatAreOffStayOffWhateverTheirJitter(t *testing.T) {
	s := &supervisor{cfg: Config{MaxRequestsJitter: 1 << 40, MaxAgeJitter: time.Hour}}
	for range 20 {
		var w worker
		s.setLimits(&w)
		if w.maxRequests != 0 || w.maxAge != 0 {
			t.Fatalf("limits %d requests, age %s with --max-requests and --max-age off, want none", w.maxRequests, w.maxAge)
		}
	}
}

func TestMaxAgeGetsItsJitter(t *testing.T) {
	s := &supervisor{cfg: Config{MaxAge: time.Second, MaxAgeJitter: time.Hour}}
	above := false
	for range 20 {
		var w worker
		s.setLimits(&w)
		if w.maxAge < time.Second || w.maxAge > time.Second+time.Hour {
			t.Fatalf("age limit %s outside [1s, 1h1s]", w.maxAge)
		}
		above = above || w.maxAge > time.Second
	}
	if !above {
		t.Error("20 draws of an age limit with an hour's jitter all gave the bare limit")
	}
	// The smallest jitter: the limit or one nanosecond more.
	s.cfg.MaxAgeJitter = 1
	var w worker
	s.setLimits(&w)
	if w.maxAge != time.Second && w.maxAge != time.Second+1 {
		t.Errorf("age limit %s with 1ns of jitter", w.maxAge)
	}
}

func TestOverLimitAtExactlyTheAgeAndAboveTheMemory(t *testing.T) {
	start := time.Unix(1000, 0)
	s := &supervisor{}
	w := &worker{pid: fakePidBase, started: start, maxAge: time.Minute}
	if limit, _ := s.overLimit(w, start.Add(time.Minute-time.Nanosecond)); limit != "" {
		t.Errorf("a worker a nanosecond short of its age limit is over %q", limit)
	}
	if limit, _ := s.overLimit(w, start.Add(time.Minute)); limit != limitAge {
		t.Errorf("a worker at exactly its age limit is over %q, want %q", limit, limitAge)
	}
	// This process stands in for a worker whose RSS is measured.
	me := &worker{pid: os.Getpid(), started: start}
	if limit, _ := s.overLimit(me, start); limit != "" {
		t.Errorf("over %q with --max-memory off", limit)
	}
	s.cfg.MaxMemory = 1
	if limit, _ := s.overLimit(me, start); limit != limitMemory {
		t.Errorf("a process of more than 1 byte over %q, want %q", limit, limitMemory)
	}
}

func TestAFailedRecycleIsNoRestartOfTheSlot(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1, MaxAge: time.Minute}, firstThen(diesYoung, 0))
	h.until("the worker online", time.Second, h.online)
	h.until("a replacement tried", 2*time.Minute, func() bool { return len(h.procs.of(0)) == 2 })
	h.settle()
	sl := h.s.slots[0]
	if !sl.restartAt.IsZero() || sl.restarts != 0 || sl.history.YoungDeaths != 0 {
		t.Fatalf("after a failed recycle with the old worker serving: restart at %v, %d restarts, %d young deaths; want none",
			sl.restartAt, sl.restarts, sl.history.YoungDeaths)
	}
}

func TestAFailedReloadIsNoRestartOfTheSlot(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1}, firstThen(failsToStart, 0))
	h.until("the worker online", time.Second, h.online)
	h.signal(syscall.SIGHUP)
	if r := h.s.lastReload; r == nil || r.Result != ReloadFailed {
		t.Fatalf("reload %+v, want failed", r)
	}
	sl := h.s.slots[0]
	if !sl.restartAt.IsZero() || sl.restarts != 0 || sl.history.YoungDeaths != 0 {
		t.Fatalf("after a failed reload with the old worker serving: restart at %v, %d restarts, %d young deaths; want none",
			sl.restartAt, sl.restarts, sl.history.YoungDeaths)
	}
}

func TestAReloadQueuedBehindARecycleIsAnsweredWithItsID(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1, MaxRequests: 10}, firstThen(healthy, time.Second))
	h.until("the worker online", time.Second, h.online)
	h.answered(0, 10)
	h.until("the recycle starts", time.Second, func() bool { return h.s.recycling != nil })
	if id := h.s.startReload(); id != 1 {
		t.Fatalf("a reload asked for during a recycle is answered with ID %d, want 1", id)
	}
	h.until("the reload ends", time.Minute, func() bool { return h.s.lastReload != nil })
	if r := h.s.lastReload; r.ID != 1 || r.Result != ReloadFinished {
		t.Fatalf("reload %+v, want reload 1 finished", r)
	}
}
