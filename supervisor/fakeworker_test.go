package supervisor

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// This file is the process seam's fake: workers that live only in the
// test, played against the real loop code (handle, onSignal, onTick,
// settled) with a fake clock. The tests in loop_test.go read like drills
// on it; the tests in the root package drill the same rules on real
// processes.

// behaviour is how a fake worker acts.
type behaviour int

const (
	// healthy comes online after its readyAfter, beats, and drains and
	// exits 0 on SIGTERM, exits 2 on SIGQUIT (Go's stack dump).
	healthy behaviour = iota
	// diesYoung exits with code 1 as soon as it starts.
	diesYoung
	// failsToStart says why it cannot start, then exits with code 1.
	failsToStart
	// hangs comes online, then stops beating and answers only SIGKILL.
	hangs
	// ignoresTerm is healthy but ignores SIGTERM.
	ignoresTerm
)

// fakePidBase is above any pid_max Linux allows (2^22), so that /proc
// has nothing for a fake worker's pid.
const fakePidBase = 1 << 23

// fakeProcess is one fake worker process.
type fakeProcess struct {
	id      int
	slot    int
	spec    workerSpec
	does    behaviour
	readyAt time.Time // zero once it has reported ready, or never will
	drain   time.Duration
	exitAt  time.Time // when a draining process exits; zero while none
	now     func() time.Time
	deliver func(message)
	exited  func(exitStatus)
	signals []syscall.Signal
	gone    bool
	// spare is set while the process is a spare waiting for a slot; sent
	// lists what the supervisor sent it, "word arg" each.
	spare bool
	sent  []string
	// slowTake makes a spare given a slot wait for the test to deliver
	// its ready, instead of reporting it at once.
	slowTake bool
}

func (p *fakeProcess) pid() int { return p.id }

// send plays the worker's side of the channel: a spare given a slot
// becomes that slot's worker and reports ready at once, as ServeWorker
// does after takeSlot.
func (p *fakeProcess) send(word, arg string, f *os.File) error {
	if p.gone {
		return errors.New("channel closed: process gone")
	}
	p.sent = append(p.sent, word+" "+arg)
	if word == msgTake && p.spare && f != nil {
		slot, err := strconv.Atoi(arg)
		if err != nil {
			return err
		}
		p.spare, p.slot = false, slot
		if !p.slowTake {
			p.deliver(message{word: msgReady, fd: -1})
		}
	}
	return nil
}

func (p *fakeProcess) signal(sig syscall.Signal) {
	if p.gone {
		return
	}
	p.signals = append(p.signals, sig)
	switch {
	case sig == syscall.SIGKILL:
		p.exit(exitStatus{-1, "SIGKILL"})
	case p.does == hangs:
	case sig == syscall.SIGTERM && p.does != ignoresTerm && p.drain > 0:
		if p.exitAt.IsZero() {
			p.exitAt = p.now().Add(p.drain)
		}
	case sig == syscall.SIGTERM && p.does != ignoresTerm:
		p.exit(exitStatus{0, ""})
	case sig == syscall.SIGQUIT:
		p.exit(exitStatus{2, ""})
	}
}

// got reports whether the process was sent sig.
func (p *fakeProcess) got(sig syscall.Signal) bool {
	for _, s := range p.signals {
		if s == sig {
			return true
		}
	}
	return false
}

// exit ends the process as st says; the loop hears of it in its next turn.
func (p *fakeProcess) exit(st exitStatus) {
	if p.gone {
		return
	}
	p.gone, p.readyAt = true, time.Time{}
	p.exited(st)
}

// fakeStarter starts fake workers; plan says how the n-th worker (from 0)
// started for a slot behaves, and after how long it is ready.
type fakeStarter struct {
	now   func() time.Time
	plan  func(slot, n int) (behaviour, time.Duration)
	procs []*fakeProcess
	// drain is how long a healthy worker takes to exit after SIGTERM.
	drain time.Duration
	// refuse makes start fail, as a fork that fails does.
	refuse error
	// t is failed by a restart storm (maxStarted).
	t *testing.T
}

func (f *fakeStarter) start(spec workerSpec, _ *os.File, deliver func(message), exited func(exitStatus)) (process, error) {
	if f.refuse != nil {
		return nil, f.refuse
	}
	if len(f.procs) >= maxStarted {
		f.t.Fatalf("%d workers started: a restart storm", len(f.procs))
	}
	slot := spec.Slot
	if spec.Spare {
		slot = spareSlot
	}
	does, after := f.plan(slot, len(f.of(slot)))
	p := &fakeProcess{id: fakePidBase + len(f.procs), slot: slot, spec: spec, does: does,
		drain: f.drain, now: f.now, deliver: deliver, exited: exited, spare: spec.Spare}
	f.procs = append(f.procs, p)
	switch does {
	case diesYoung:
		p.exit(exitStatus{1, ""})
	case failsToStart:
		deliver(message{word: msgFail, arg: "bind: address already in use", fd: -1})
		p.exit(exitStatus{1, ""})
	default:
		p.readyAt = f.now().Add(after)
	}
	return p, nil
}

// spareSlot is the slot a fake spare is planned and listed under (plan,
// of) until it takes a slot.
const spareSlot = -1

// of lists the processes started for slot, oldest first.
func (f *fakeStarter) of(slot int) []*fakeProcess {
	var out []*fakeProcess
	for _, p := range f.procs {
		if p.slot == slot {
			out = append(out, p)
		}
	}
	return out
}

// run lets every live process act at the clock's time: those due report
// ready or end their drain, and every online one but a hung one beats.
func (f *fakeStarter) run(now time.Time) {
	for _, p := range f.procs {
		switch {
		case p.gone:
		case !p.exitAt.IsZero() && !now.Before(p.exitAt):
			p.exit(exitStatus{0, ""})
		case !p.readyAt.IsZero() && !now.Before(p.readyAt) && p.spare:
			p.readyAt = time.Time{}
			p.deliver(message{word: msgSpare, fd: -1})
		case !p.readyAt.IsZero() && !now.Before(p.readyAt):
			p.readyAt = time.Time{}
			p.deliver(message{word: msgReady, fd: -1})
		case p.spare:
			// A waiting spare sends nothing.
		case p.readyAt.IsZero() && p.does != hangs:
			p.deliver(message{word: msgBeat, fd: -1})
		}
	}
}

// nextAct is the earliest time a process is due to report ready or to
// exit, zero when none is.
func (f *fakeStarter) nextAct() time.Time {
	var next time.Time
	for _, p := range f.procs {
		for _, t := range []time.Time{p.readyAt, p.exitAt} {
			if !p.gone && !t.IsZero() && (next.IsZero() || t.Before(next)) {
				next = t
			}
		}
	}
	return next
}

// loopHarness plays the loop's part for a supervisor whose workers are
// fakes: it hands the loop its events, signals and timer turns in the
// loop's order, on a fake clock that jumps to the loop's next deadline.
type loopHarness struct {
	t     *testing.T
	s     *supervisor
	procs *fakeStarter
	now   time.Time
	ended bool
}

// newLoopHarness starts a supervisor of cfg (defaults applied, a fake
// address) on fake workers that follow plan.
func newLoopHarness(t *testing.T, cfg Config, plan func(slot, n int) (behaviour, time.Duration)) *loopHarness {
	t.Helper()
	// The notifier hook must not speak to a real systemd.
	t.Setenv("NOTIFY_SOCKET", "")
	t.Setenv("WATCHDOG_USEC", "")
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:1"
	}
	if cfg.Command == "" {
		cfg.Command = "fake-worker"
	}
	cfg.Steer = SteerOff
	cfg.Log = zerolog.New(zerolog.NewTestWriter(t))
	cfg, err := cfg.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	board, err := newScoreboard(4*cfg.MaxWorkers + 8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(board.close)
	h := &loopHarness{t: t, now: time.Unix(1_000_000, 0)}
	h.s = newSupervisor(cfg, board)
	h.s.events = make(chan event, 1024)
	h.s.now = func() time.Time { return h.now }
	h.procs = &fakeStarter{now: h.s.now, plan: plan, t: t}
	h.s.procs = h.procs
	h.s.steerOff = "test"
	h.s.started = h.now
	if err := h.s.openHooks(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.s.closeHooks)
	for i := range cfg.Workers {
		h.s.slots = append(h.s.slots, &slot{index: i})
	}
	for _, sl := range h.s.slots {
		h.s.startWorker(sl)
	}
	h.settle()
	return h
}

// always is a plan under which every worker behaves as b, ready at once.
func always(b behaviour) func(int, int) (behaviour, time.Duration) {
	return func(int, int) (behaviour, time.Duration) { return b, 0 }
}

// firstThen is a plan under which the first worker of each slot is
// healthy and ready at once, and every later one behaves as b, ready after
// ready when it comes online at all.
func firstThen(b behaviour, ready time.Duration) func(int, int) (behaviour, time.Duration) {
	return func(_, n int) (behaviour, time.Duration) {
		if n == 0 {
			return healthy, 0
		}
		return b, ready
	}
}

// maxSettle bounds the events one settle hands the loop, and maxStarted
// the workers one test starts. A loop past either is in a restart storm
// (workers started again as fast as they die), which the test reports
// instead of hanging.
const (
	maxSettle  = 10_000
	maxStarted = 1_000
)

// settle hands the loop every event waiting for it, as its select would,
// without moving the clock.
func (h *loopHarness) settle() {
	h.t.Helper()
	for n := 0; !h.ended; n++ {
		if n == maxSettle {
			h.t.Fatalf("the loop handled %d events without the clock moving: a restart storm", n)
		}
		select {
		case ev := <-h.s.events:
			h.s.handle(ev)
			h.ended = h.s.settled()
		default:
			return
		}
	}
}

// tick moves the clock to the loop's next deadline (or a fake worker's
// next act, if sooner), lets the workers act, and runs the timer's
// turn, as the loop does when its timer fires.
func (h *loopHarness) tick() {
	h.t.Helper()
	if h.ended {
		h.t.Fatal("tick after the loop ended")
	}
	next := h.s.nextDeadline()
	if r := h.procs.nextAct(); !r.IsZero() && r.Before(next) {
		next = r
	}
	if n := len(h.procs.procs); n > maxStarted {
		h.t.Fatalf("%d workers started: a restart storm", n)
	}
	// The loop sleeps at least a millisecond.
	h.now = maxTime(next, h.now.Add(time.Millisecond))
	h.procs.run(h.now)
	h.settle()
	if h.ended {
		return
	}
	h.s.onTick()
	h.ended = h.s.settled()
	h.settle()
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// signal delivers sig to the supervisor, as its signal channel would.
func (h *loopHarness) signal(sig syscall.Signal) {
	h.t.Helper()
	if h.ended {
		h.t.Fatal("signal after the loop ended")
	}
	h.s.onSignal(sig)
	h.ended = h.s.settled()
	h.settle()
}

// until ticks until cond holds, for at most within on the fake clock; it
// fails the test with what it waited for.
func (h *loopHarness) until(what string, within time.Duration, cond func() bool) {
	h.t.Helper()
	deadline := h.now.Add(within)
	for !cond() {
		if h.ended || h.now.After(deadline) {
			h.t.Fatalf("%s: not within %s (loop ended: %v, error: %v)", what, within, h.ended, h.s.err)
		}
		h.tick()
	}
}

// current is the pid of the worker serving slot i, 0 when none does.
func (h *loopHarness) current(i int) int {
	for _, sl := range h.s.slots {
		if sl.index == i && sl.current != nil {
			return sl.current.pid
		}
	}
	return 0
}

// online reports whether every slot's current worker is online.
func (h *loopHarness) online() bool {
	return h.s.onlineCount() == len(h.s.slots)
}

// errContains fails the test unless the loop ended with an error that
// says want.
func (h *loopHarness) errContains(want string) {
	h.t.Helper()
	if !h.ended {
		h.t.Fatalf("the loop has not ended; want an error saying %q", want)
	}
	if h.s.err == nil || !strings.Contains(h.s.err.Error(), want) {
		h.t.Fatalf("the loop ended with error %v, want one saying %q", h.s.err, want)
	}
}
