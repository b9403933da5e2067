package supervisor

import (
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These drills run the supervisor loop's own code on fake workers
// (fakeworker_test.go) and a fake clock: each runs in milliseconds, and
// every wait is bounded in fake time.

// advance ticks until d has passed on the fake clock.
func (h *loopHarness) advance(d time.Duration) {
	h.t.Helper()
	until := h.now.Add(d)
	for !h.ended && h.now.Before(until) {
		h.tick()
	}
}

// drainFor makes every healthy worker, started or to start, take d to
// exit after SIGTERM.
func (h *loopHarness) drainFor(d time.Duration) {
	h.procs.drain = d
	for _, p := range h.procs.procs {
		p.drain = d
	}
}

// state is the status's word for worker pid, "" when it has no row.
func (h *loopHarness) state(pid int) string {
	for _, w := range h.s.status().Workers {
		if w.Pid == pid {
			return w.State
		}
	}
	return ""
}

func TestEverySlotFailingAtStartEndsTheServer(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 2}, always(diesYoung))
	h.errContains("no worker came online")
	if n := len(h.procs.procs); n != 2 {
		t.Fatalf("%d workers started, want one per slot and no retry", n)
	}
}

func TestEverySlotDyingYoungGivesUp(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 2, MaxRestarts: 3}, firstThen(diesYoung, 0))
	h.until("every worker online", time.Second, h.online)
	h.advance(2 * DefaultMinUptime) // a stable run
	for slot := range 2 {
		h.procs.of(slot)[0].exit(exitStatus{-1, "SIGSEGV"})
	}
	h.settle()
	h.until("the server gives up", time.Minute, func() bool { return h.ended })
	h.errContains("every worker keeps dying young (3 times in a row)")
	for slot := range 2 {
		if n := len(h.procs.of(slot)); n != 4 {
			t.Errorf("slot %d ran %d workers, want the first and 3 that died young", slot, n)
		}
	}
}

func TestOneFailingSlotBesideHealthyOnesKeepsServing(t *testing.T) {
	plan := func(slot, _ int) (behaviour, time.Duration) {
		if slot == 0 {
			return diesYoung, 0
		}
		return healthy, 0
	}
	const maxBackoff = 4 * time.Second
	h := newLoopHarness(t, Config{Workers: 3, MaxRestarts: 3, MaxBackoff: maxBackoff}, plan)
	h.until("slots 1 and 2 online", time.Second, func() bool { return h.s.onlineCount() == 2 })
	h.advance(time.Minute)
	if h.ended {
		t.Fatalf("the server ended (%v) while two slots were healthy", h.s.err)
	}
	for slot := 1; slot <= 2; slot++ {
		if ps := h.procs.of(slot); len(ps) != 1 || h.current(slot) != ps[0].pid() {
			t.Errorf("healthy slot %d ran %d workers, want its first one serving throughout", slot, len(ps))
		}
	}
	tries := len(h.procs.of(0))
	// Backoff 0.1, 0.2, 0.4 … capped at 4s (+ jitter, capped too): about
	// 17 tries in a minute; a fork loop would make thousands.
	if tries <= 3 || tries > 25 {
		t.Errorf("the failing slot was tried %d times in a minute, want more than max-restarts (3) and a backoff pace", tries)
	}
	if b := h.s.slots[0].history.Backoff; b != maxBackoff {
		t.Errorf("the failing slot's backoff is %s, want it capped at %s", b, maxBackoff)
	}
}

func TestReloadWhoseNewWorkerFailsKeepsTheOldWorkers(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 2}, firstThen(failsToStart, 0))
	h.until("every worker online", time.Second, h.online)
	old := []int{h.current(0), h.current(1)}
	h.signal(syscall.SIGHUP)
	r := h.s.lastReload
	if h.s.reload != nil || r == nil || r.Result != ReloadFailed {
		t.Fatalf("reload not failed: running %v, last %+v", h.s.reload != nil, r)
	}
	if !strings.Contains(r.Error, "bind: address already in use") {
		t.Errorf("the reload's error %q does not carry the new worker's reason", r.Error)
	}
	if n := len(h.procs.of(1)); n != 1 {
		t.Errorf("slot 1 got %d workers: the reload went on after a failed step", n)
	}
	h.advance(5 * time.Second)
	for slot, pid := range old {
		p := h.procs.of(slot)[0]
		if h.current(slot) != pid || p.gone || len(p.signals) > 0 {
			t.Errorf("slot %d: old worker %d replaced, gone or signalled (%v) after a failed reload", slot, pid, p.signals)
		}
	}
}

func TestScaleDownDuringReloadFinishesTheReloadOnTheSlotsLeft(t *testing.T) {
	// The reload's new workers take 2s to come online.
	h := newLoopHarness(t, Config{Workers: 2, MaxWorkers: 4}, firstThen(healthy, 2*time.Second))
	h.drainFor(5 * time.Second) // retired slots outlive the reload's step
	h.until("every worker online", time.Second, h.online)
	h.signal(syscall.SIGHUP)
	h.tick()
	if h.s.reload == nil || h.s.slots[0].next == nil {
		t.Fatal("the reload is not replacing slot 0")
	}
	h.signal(syscall.SIGTTIN) // slot 2
	h.signal(syscall.SIGTTOU) // retires slot 2
	h.signal(syscall.SIGTTOU) // retires slot 1, still queued in the reload
	h.until("the reload ends", 10*time.Second, func() bool { return h.s.lastReload != nil })
	if r := h.s.lastReload; r.Result != ReloadFinished {
		t.Fatalf("reload %+v, want finished", r)
	}
	h.until("retired slots reaped and old workers gone", 10*time.Second, func() bool {
		return len(h.s.slots) == 1 && len(h.s.workers) == 1
	})
	if got, want := h.current(0), h.procs.of(0)[1].pid(); got != want {
		t.Errorf("slot 0 is served by %d, want the reload's new worker %d", got, want)
	}
	for _, p := range []*fakeProcess{h.procs.of(0)[0], h.procs.of(1)[0], h.procs.of(2)[0]} {
		if !p.gone || !p.got(syscall.SIGTERM) {
			t.Errorf("worker %d of slot %d: gone %v, signals %v; want drained with SIGTERM", p.pid(), p.slot, p.gone, p.signals)
		}
	}
	if n := len(h.procs.of(1)); n != 1 {
		t.Errorf("retired slot 1 got %d workers, want no reload of it", n)
	}
}

func TestHungWorkerIsReplacedAtOnceAndKilledAfterItsGrace(t *testing.T) {
	plan := func(slot, n int) (behaviour, time.Duration) {
		if slot == 0 && n == 0 {
			return hangs, 0
		}
		return healthy, 0
	}
	const timeout = 2 * time.Second
	h := newLoopHarness(t, Config{Workers: 2, WorkerTimeout: timeout}, plan)
	h.until("every worker online", time.Second, h.online)
	silentSince := h.now // its ready was its last word
	hung := h.procs.of(0)[0]
	h.until("the hung worker replaced", timeout+time.Second, func() bool { return h.current(0) != hung.pid() })
	if silent := h.now.Sub(silentSince); silent > timeout+10*time.Millisecond {
		t.Errorf("replaced after %s of silence, want within the worker timeout %s", silent, timeout)
	}
	if !hung.got(syscall.SIGQUIT) || !hung.got(syscall.SIGCONT) || hung.gone {
		t.Fatalf("hung worker: signals %v, gone %v; want SIGQUIT and SIGCONT, still there", hung.signals, hung.gone)
	}
	if st := h.state(hung.pid()); st != "hung" {
		t.Errorf("status shows the hung worker as %q", st)
	}
	if st := h.state(h.current(0)); st != "starting" {
		t.Errorf("status shows the replacement as %q", st)
	}
	quitAt := h.now
	h.until("the hung worker killed", hungGrace+time.Second, func() bool { return hung.gone })
	if !hung.got(syscall.SIGKILL) || h.now.Sub(quitAt) < hungGrace {
		t.Errorf("hung worker ended after %s with signals %v; want SIGKILL after %s", h.now.Sub(quitAt), hung.signals, hungGrace)
	}
	if n := h.s.exits[reasonHung]; n != 1 {
		t.Errorf("%d exits counted as hung, want 1", n)
	}
	if p := h.procs.of(1)[0]; len(p.signals) > 0 {
		t.Errorf("the healthy slot's worker got %v", p.signals)
	}
	if !h.online() {
		t.Error("not every slot is online after the hung worker's replacement")
	}
}

func TestSecondStopSignalForcesTheStop(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 2}, always(ignoresTerm))
	h.until("every worker online", time.Second, h.online)
	h.signal(syscall.SIGINT)
	h.advance(time.Second)
	if h.ended {
		t.Fatal("the server ended before its workers, which ignore SIGTERM")
	}
	h.signal(syscall.SIGINT)
	h.errContains("forced stop")
	for _, p := range h.procs.procs {
		if !p.got(syscall.SIGTERM) || !p.got(syscall.SIGKILL) {
			t.Errorf("worker %d got %v, want SIGTERM then SIGKILL", p.pid(), p.signals)
		}
	}
}

func TestWorkerIgnoringTermIsKilledAfterTheGracefulTimeout(t *testing.T) {
	const graceful = 3 * time.Second
	h := newLoopHarness(t, Config{Workers: 1, GracefulTimeout: graceful}, always(ignoresTerm))
	h.until("the worker online", time.Second, h.online)
	h.signal(syscall.SIGTERM)
	stopAt := h.now
	h.until("the server stopped", graceful+2*time.Second, func() bool { return h.ended })
	if h.s.err != nil {
		t.Errorf("a graceful stop ended with %v", h.s.err)
	}
	p := h.procs.procs[0]
	if !p.got(syscall.SIGKILL) || h.now.Sub(stopAt) < graceful {
		t.Errorf("the worker got %v and the stop took %s; want SIGKILL after the graceful timeout %s", p.signals, h.now.Sub(stopAt), graceful)
	}
}

func TestWorkerThatBeatsButLeavesItsQueueStillIsReplacedAsHung(t *testing.T) {
	const timeout = time.Second
	h := newLoopHarness(t, Config{Workers: 2, WorkerTimeout: timeout}, always(healthy))
	h.until("every worker online", time.Second, h.online)
	// Slot 0's worker hands over a real listening socket that it never
	// accepts from, while its heartbeat goes on.
	ln, f := loopbackListenerFile(t)
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	wedged := h.procs.of(0)[0]
	wedged.deliver(message{word: msgSocket, fd: fd})
	h.settle()
	t.Cleanup(h.s.closeSlots)
	for range 2 {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	stuckFrom := h.now
	h.until("the wedged worker replaced", 2*timeout, func() bool { return h.current(0) != wedged.pid() })
	if d := h.now.Sub(stuckFrom); d < timeout {
		t.Errorf("replaced %s after its queue stuck, before the worker timeout %s", d, timeout)
	}
	if !wedged.got(syscall.SIGQUIT) {
		t.Errorf("the wedged worker got %v, want the hang signal", wedged.signals)
	}
	if p := h.procs.of(1)[0]; len(p.signals) > 0 {
		t.Errorf("slot 1's worker, whose queue is empty, got %v", p.signals)
	}
}
