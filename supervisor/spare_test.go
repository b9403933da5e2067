package supervisor

import (
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These drills run the spare's rules (spare.go) on fake workers and a
// fake clock; e2e/spare_test.go runs them on real processes.

// newSpareHarness is a server of n slots with a spare, each slot holding
// a real listening socket (a spare is given its slot's socket), once every
// worker is online and the spare waits.
func newSpareHarness(t *testing.T, cfg Config, plan func(slot, n int) (behaviour, time.Duration)) *loopHarness {
	t.Helper()
	cfg.Spare = true
	h := newLoopHarness(t, cfg, plan)
	for _, sl := range h.s.slots {
		_, f := loopbackListenerFile(t)
		sl.socket = &slotSocket{fd: dupFD(t, f)}
	}
	t.Cleanup(h.s.closeSlots)
	h.until("every worker online and a spare waiting", time.Second, func() bool { return h.online() && h.s.spares.ready })
	return h
}

// spare is the fake process of the spare that runs now; it fails the test
// when none does.
func (h *loopHarness) spare() *fakeProcess {
	h.t.Helper()
	w := h.s.spares.w
	if w == nil {
		h.t.Fatal("no spare runs")
	}
	for _, p := range h.procs.procs {
		if p.pid() == w.pid {
			return p
		}
	}
	h.t.Fatalf("spare %d is not a process of the test", w.pid)
	return nil
}

func TestASpareTakesTheSlotOfAWorkerThatDiesAtOnce(t *testing.T) {
	h := newSpareHarness(t, Config{Workers: 2}, always(healthy))
	spare := h.spare()
	if st := h.s.status(); st.Spare == nil || *st.Spare != (SpareStatus{Pid: spare.pid(), State: "ready"}) || st.SparesTaken != 0 {
		t.Errorf("status shows spare %+v, %d taken; want %d ready, none taken", st.Spare, st.SparesTaken, spare.pid())
	}
	h.advance(5 * time.Second) // a stable run: no backoff applies
	h.procs.of(0)[0].exit(exitStatus{-1, "SIGKILL"})
	diedAt := h.now
	h.settle()
	// No tick: the slot is served again within the turn that saw the exit.
	if h.current(0) != spare.pid() || h.s.slots[0].current.state != stateOnline {
		t.Fatalf("slot 0's worker is %d, want the spare %d online at once", h.current(0), spare.pid())
	}
	if h.now != diedAt {
		t.Errorf("the clock moved %s before the slot was served", h.now.Sub(diedAt))
	}
	if !slices.Equal(spare.sent, []string{msgTake + " 0"}) {
		t.Errorf("the spare was sent %q, want one take of slot 0", spare.sent)
	}
	if st := h.s.status(); st.SparesTaken != 1 {
		t.Errorf("status: %d spares taken, want 1", st.SparesTaken)
	}
	h.until("a new spare waits", time.Second, func() bool { return h.s.spares.ready })
	if h.spare() == spare {
		t.Error("the spare that took slot 0 is still the spare")
	}
	if ps := h.procs.of(0); len(ps) != 2 || ps[1] != spare {
		t.Errorf("slot 0 had %d processes, want its first and then the spare, no process started for it", len(ps))
	}
}

// takeSlowly kills slot 0's worker of h, whose spare does not report
// ready on its take until the test says so, and returns that spare.
func takeSlowly(h *loopHarness) *fakeProcess {
	h.t.Helper()
	spare := h.spare()
	spare.slowTake = true
	h.advance(5 * time.Second) // a stable run: no backoff applies
	h.procs.of(0)[0].exit(exitStatus{-1, "SIGKILL"})
	h.settle()
	if h.current(0) != spare.pid() {
		h.t.Fatalf("slot 0's worker is %d, want the spare %d", h.current(0), spare.pid())
	}
	return spare
}

// The next spare starts as soon as the one that took a slot is online, and
// not before: starting a process takes CPU from the slot's recovery. A
// taken spare that never comes online holds it back for spareHold.
func TestTheNextSpareWaitsUntilTheTakenOneIsOnline(t *testing.T) {
	h := newSpareHarness(t, Config{Workers: 2}, always(healthy))
	taken := takeSlowly(h)
	took := h.now
	taken.deliver(message{word: msgReady, fd: -1})
	h.settle()
	if st := h.s.slots[0].current.state; st != stateOnline {
		t.Fatalf("slot 0's worker is %s after its ready, want online", st)
	}
	h.tick() // the loop's next turn
	if h.s.spares.w == nil || h.now.Sub(took) >= spareHold {
		t.Fatalf("no new spare on the turn after the taken one came online (%s after the take)", h.now.Sub(took))
	}
}

func TestTheNextSpareStartsAfterTheHoldIfTheTakenOneIsNotOnline(t *testing.T) {
	h := newSpareHarness(t, Config{Workers: 2, StartTimeout: time.Hour}, always(healthy))
	takeSlowly(h)
	took := h.now
	h.until("a new spare", 2*spareHold, func() bool { return h.s.spares.w != nil })
	if waited := h.now.Sub(took); waited < spareHold {
		t.Errorf("the next spare started %s after the take, before the taken spare was online and before the hold's %s", waited, spareHold)
	}
}

func TestAHungWorkersSlotGoesToTheSpare(t *testing.T) {
	plan := func(slot, n int) (behaviour, time.Duration) {
		if slot == 0 && n == 0 {
			return hangs, 0
		}
		return healthy, 0
	}
	h := newSpareHarness(t, Config{Workers: 2, WorkerTimeout: time.Second}, plan)
	spare := h.spare()
	hung := h.procs.of(0)[0]
	h.until("the hung worker replaced", 3*time.Second, func() bool { return h.current(0) != hung.pid() })
	if h.current(0) != spare.pid() {
		t.Fatalf("slot 0 went to %d, want the spare %d", h.current(0), spare.pid())
	}
	if !hung.got(syscall.SIGQUIT) {
		t.Errorf("the hung worker got %v, want the hang signal", hung.signals)
	}
}

func TestASlotThatBacksOffTakesTheSpareOnlyWhenItsDelayIsOver(t *testing.T) {
	// Slot 0's second worker dies young; its third would too.
	plan := func(slot, n int) (behaviour, time.Duration) {
		if slot == 0 && n > 0 {
			return diesYoung, 0
		}
		return healthy, 0
	}
	h := newSpareHarness(t, Config{Workers: 2}, plan)
	first := h.spare()
	h.procs.of(0)[0].exit(exitStatus{1, ""}) // young: within min-uptime of start
	h.settle()
	sl := h.s.slots[0]
	if sl.current != nil || sl.restartAt.IsZero() {
		t.Fatalf("slot 0 has worker %v and restart %v; want a backoff with an empty queue", sl.current, sl.restartAt)
	}
	if len(first.sent) > 0 {
		t.Fatalf("the spare was sent %q during the slot's backoff", first.sent)
	}
	due := sl.restartAt
	h.until("slot 0 served again", time.Minute, func() bool { return h.current(0) != 0 })
	if h.now.Before(due) || h.current(0) != first.pid() {
		t.Errorf("slot 0 served at +%s by %d; want the spare %d after the backoff (+%s)", h.now.Sub(due), h.current(0), first.pid(), due.Sub(h.now))
	}
}

func TestASpareThatDiesIsReplacedWithBackoff(t *testing.T) {
	plan := func(slot, n int) (behaviour, time.Duration) {
		if slot == spareSlot && n > 0 {
			return diesYoung, 0
		}
		return healthy, 0
	}
	h := newSpareHarness(t, Config{Workers: 1, MaxBackoff: time.Second}, plan)
	h.spare().exit(exitStatus{-1, "SIGSEGV"})
	h.settle()
	if h.s.spares.w != nil || h.s.spares.failures != 1 {
		t.Fatalf("spare %v, failures %d after the spare died; want none running, 1 failure", h.s.spares.w, h.s.spares.failures)
	}
	h.advance(10 * time.Second)
	// Each later spare dies at once: 100 ms, 200, 400, then every second.
	tries := len(h.procs.of(spareSlot)) - 1
	if tries < 8 || tries > 14 {
		t.Errorf("%d spares started in 10s after the first died, want about 11 at the backoff's pace", tries)
	}
	if h.ended || h.current(0) != h.procs.of(0)[0].pid() {
		t.Errorf("the server ended (%v) or slot 0 changed hands because of its spares", h.s.err)
	}
}

func TestASpareThatNeverWaitsIsKilledAfterTheStartTimeout(t *testing.T) {
	plan := func(slot, _ int) (behaviour, time.Duration) {
		if slot == spareSlot {
			return healthy, time.Hour
		}
		return healthy, 0
	}
	const timeout = 3 * time.Second
	h := newLoopHarness(t, Config{Workers: 1, StartTimeout: timeout, Spare: true}, plan)
	h.until("a spare started", time.Second, func() bool { return h.s.spares.w != nil })
	p := h.spare()
	started := h.now
	h.until("the silent spare killed", 2*timeout, func() bool { return p.gone })
	if d := h.now.Sub(started); d < timeout || !p.got(syscall.SIGKILL) {
		t.Errorf("the spare got %v after %s, want SIGKILL after the start timeout %s", p.signals, d, timeout)
	}
}

func TestStopEndsTheSpareAndWaitsForIt(t *testing.T) {
	h := newSpareHarness(t, Config{Workers: 2}, always(healthy))
	spare := h.spare()
	h.signal(syscall.SIGTERM)
	if !spare.got(syscall.SIGKILL) {
		t.Fatalf("the spare got %v on stop, want SIGKILL", spare.signals)
	}
	h.until("the server stopped", 15*time.Second, func() bool { return h.ended })
	if h.s.err != nil {
		t.Errorf("the stop ended with %v", h.s.err)
	}
	if n := len(h.procs.of(spareSlot)); n != 1 {
		t.Errorf("%d spares started, want no new one while stopping", n)
	}
}

func TestAReloadRetiresTheSpareAndStartsANewOneAfterIt(t *testing.T) {
	h := newSpareHarness(t, Config{Workers: 2}, always(healthy))
	old := h.spare()
	h.signal(syscall.SIGHUP)
	if !old.got(syscall.SIGKILL) {
		t.Fatalf("the old spare got %v at the reload, want SIGKILL", old.signals)
	}
	h.until("the reload ends", time.Minute, func() bool {
		if h.s.reload == nil {
			return true
		}
		if h.s.spares.w != nil && h.s.spares.w.pid != old.pid() {
			t.Fatal("a spare started during the reload")
		}
		return false
	})
	h.until("a new spare waits", time.Second, func() bool { return h.s.spares.ready })
	if n := len(h.procs.of(spareSlot)); n != 2 {
		t.Errorf("%d spares started, want the old one and one after the reload", n)
	}
}

func TestNoSpareForACommandAfterTheDashes(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1, Spare: true, Exec: []string{"true"}, Ready: ReadyNotify}, always(healthy))
	h.until("the worker online", time.Second, h.online)
	h.advance(3 * time.Second)
	if n := len(h.procs.of(spareSlot)); n != 0 {
		t.Errorf("%d spares started for exec workers, want none", n)
	}
}

func TestSpareBackoffDoublesUpToItsLimit(t *testing.T) {
	for failures, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 40: time.Second} {
		if got := spareBackoff(failures, time.Second); got != want {
			t.Errorf("spareBackoff(%d, 1s) = %s, want %s", failures, got, want)
		}
	}
}

func TestASpareTakesItsSlotsNameInPlace(t *testing.T) {
	cfg := Config{Command: "/usr/bin/spread", Addr: ":8000"}
	spareName := cfg.workerName(workerSpec{Spare: true, Slot: 0})
	if spareName != "spread: worker (spare) :8000" {
		t.Fatalf("a spare's name is %q", spareName)
	}
	saved := os.Args[0]
	t.Cleanup(func() { os.Args[0] = saved })
	// A copy on the heap stands for the argv memory of a real spare.
	os.Args[0] = string([]byte(spareName))
	renameSpare(12)
	want := cfg.workerName(workerSpec{Slot: 12})
	if got := os.Args[0]; got != want+strings.Repeat("\x00", len(spareName)-len(want)) {
		t.Errorf("renamed to %q, want %q padded with NULs to the old length", got, want)
	}
	// A worker's name is left alone.
	os.Args[0] = string([]byte(want))
	renameSpare(3)
	if os.Args[0] != want {
		t.Errorf("a worker's name changed to %q", os.Args[0])
	}
}

func TestNoSpareUnlessConfigured(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1}, always(healthy))
	h.until("the worker online", time.Second, h.online)
	h.advance(3 * time.Second)
	if n := len(h.procs.of(spareSlot)); n != 0 {
		t.Errorf("%d spares started with Config.Spare off", n)
	}
}

// The real clock moves while the loop runs its turn: a spare that is due
// must start even though every reading of the clock is later than the
// turn's.
func TestASpareStartsWhileTheClockMoves(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1, Spare: true}, always(healthy))
	h.s.now = func() time.Time {
		h.now = h.now.Add(time.Microsecond)
		return h.now
	}
	h.until("a spare waiting", time.Second, func() bool { return h.s.spares.ready })
}
