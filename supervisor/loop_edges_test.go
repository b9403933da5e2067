package supervisor

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/spreadhttp/spread/reuseport"
)

// These drills pin the loop's accounting on fake workers: readiness, the
// down time of a slot, the exits kept, the level of an exit's log line
// and the last words of a stop.

// captureLog sends the supervisor's log to a buffer from now on.
func (h *loopHarness) captureLog() *bytes.Buffer {
	var b bytes.Buffer
	h.s.log = zerolog.New(&b)
	return &b
}

// logEvents are the events of a captured log with message msg.
func logEvents(t *testing.T, b *bytes.Buffer, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(b.Bytes()))
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if ev["message"] == msg {
			out = append(out, ev)
		}
	}
	return out
}

func TestServerIsReadyOnlyOnceEverySlotIsOnline(t *testing.T) {
	plan := func(slot, _ int) (behaviour, time.Duration) {
		if slot == 1 {
			return healthy, time.Second
		}
		return healthy, 0
	}
	h := newLoopHarness(t, Config{Workers: 2}, plan)
	h.until("slot 0 online", time.Second, func() bool { return h.s.onlineCount() == 1 })
	if h.s.ready {
		t.Fatal("the server is ready with 1 of 2 workers online")
	}
	h.until("every worker online", 2*time.Second, h.online)
	if !h.s.ready {
		t.Fatal("the server is not ready with every worker online")
	}
}

func TestAReplacementOnlineEndsTheSlotsDownTime(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1}, always(healthy))
	h.until("the worker online", time.Second, h.online)
	h.advance(2 * DefaultMinUptime)
	logs := h.captureLog()
	h.procs.of(0)[0].exit(exitStatus{-1, "SIGSEGV"})
	h.settle()
	if h.s.slots[0].downSince.IsZero() {
		t.Fatal("no down time recorded when the slot's online worker died")
	}
	h.until("the replacement online", time.Second, h.online)
	if !h.s.slots[0].downSince.IsZero() {
		t.Error("the slot's down time still runs with its replacement online")
	}
	evs := logEvents(t, logs, "worker online")
	if len(evs) != 1 || evs[0]["down_ms"] == nil {
		t.Errorf("worker online events %v, want one with down_ms", evs)
	}
}

func TestASlotKeepsItsLastFiveExits(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1, MinUptime: Off}, always(healthy))
	for n := 1; n <= recentExitsKept+2; n++ {
		h.until("a worker online", time.Minute, h.online)
		h.worker(0).proc.(*fakeProcess).exit(exitStatus{n, ""})
		h.settle()
		want := min(n, recentExitsKept)
		got := h.s.slots[0].recentExits
		if len(got) != want {
			t.Fatalf("after %d exits the slot keeps %d, want %d", n, len(got), want)
		}
	}
}

func TestAnExitNobodyAskedForIsTheLastError(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1}, always(healthy))
	h.until("the worker online", time.Second, h.online)
	h.advance(2 * DefaultMinUptime)
	h.procs.of(0)[0].exit(exitStatus{3, ""})
	h.settle()
	if !strings.Contains(h.s.lastError, "exited with code 3") {
		t.Fatalf("last error %q after a worker exited with code 3 by itself", h.s.lastError)
	}
}

// TestAnExitAtExactlyMinUptimeIsStable exits workers at exactly
// --min-uptime: that run counts as stable, so it ends a crash loop and
// starts none, and its exit is a warning.
func TestAnExitAtExactlyMinUptimeIsStable(t *testing.T) {
	const minUptime = time.Second
	h := newLoopHarness(t, Config{Workers: 1, MinUptime: minUptime}, always(healthy))
	h.until("the worker online", time.Second, h.online)
	exitAfter := func(uptime time.Duration) {
		h.t.Helper()
		h.until("a worker online", time.Minute, h.online)
		w := h.worker(0)
		h.now = w.started.Add(uptime)
		w.proc.(*fakeProcess).exit(exitStatus{1, ""})
		h.settle()
	}
	logs := h.captureLog()
	levels := func() []string {
		var out []string
		for _, ev := range logEvents(t, logs, "worker exited") {
			out = append(out, ev["level"].(string))
		}
		return out
	}
	// A young death, then one at exactly min-uptime: no loop starts.
	exitAfter(0)
	exitAfter(minUptime)
	if got := strings.Join(levels(), " "); got != "warn warn" {
		t.Fatalf("exit levels %q, want a warning for each: the second ran for min-uptime", got)
	}
	// Three young deaths: a loop, whose deaths are logged at info; then
	// one at exactly min-uptime ends it, with a warning.
	logs.Reset()
	exitAfter(0)
	exitAfter(0)
	exitAfter(0)
	exitAfter(minUptime)
	if got := strings.Join(levels(), " "); got != "warn info info warn" {
		t.Fatalf("exit levels %q, want the loop's at info and the stable exit ending it at warn", got)
	}
}

func TestSupervisorStoppedIsLoggedOnlyForACleanStop(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1}, always(healthy))
	h.until("the worker online", time.Second, h.online)
	logs := h.captureLog()
	h.signal(syscall.SIGTERM)
	h.until("the server ends", time.Minute, func() bool { return h.ended })
	if len(logEvents(t, logs, "supervisor stopped")) != 1 {
		t.Fatalf("a clean stop did not log supervisor stopped: %s", logs)
	}

	// A server that gives up logs its error instead.
	f := newLoopHarness(t, Config{Workers: 1, MaxRestarts: 2}, firstThen(diesYoung, 0))
	f.until("the worker online", time.Second, f.online)
	f.advance(2 * DefaultMinUptime)
	logs = f.captureLog()
	f.procs.of(0)[0].exit(exitStatus{-1, "SIGSEGV"})
	f.settle()
	f.until("the server gives up", time.Minute, func() bool { return f.ended })
	f.errContains("every worker keeps dying young")
	if len(logEvents(t, logs, "supervisor stopped")) != 0 {
		t.Fatalf("a server that gave up logged supervisor stopped: %s", logs)
	}
}

func TestACrashLoopIsReportedAtTheSecondYoungDeath(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1, MaxRestarts: 10}, always(healthy))
	logs := h.captureLog()
	for death := 1; death <= 3; death++ {
		h.until("a worker online", time.Minute, h.online)
		h.worker(0).proc.(*fakeProcess).exit(exitStatus{1, ""})
		h.settle()
		want := 0
		if death >= 2 {
			want = 1
		}
		if got := len(logEvents(t, logs, "slot in a crash loop: restarting with backoff; its further exits are logged at info")); got != want {
			t.Fatalf("after %d young deaths, %d crash loop warnings, want %d", death, got, want)
		}
	}
}

func TestRestartsAreCountedForADeadAndAHungWorker(t *testing.T) {
	plan := func(_, n int) (behaviour, time.Duration) {
		if n == 1 {
			return hangs, 0
		}
		return healthy, 0
	}
	const timeout = 2 * time.Second
	h := newLoopHarness(t, Config{Workers: 1, WorkerTimeout: timeout}, plan)
	h.until("the worker online", time.Second, h.online)
	h.advance(2 * DefaultMinUptime)
	h.procs.of(0)[0].exit(exitStatus{-1, "SIGSEGV"})
	h.settle()
	if n := h.s.slots[0].restarts; n != 1 {
		t.Fatalf("%d restarts after a worker died, want 1", n)
	}
	// The second worker hangs; the third replaces it.
	h.until("the hung worker replaced", time.Minute, func() bool { return len(h.procs.of(0)) == 3 })
	if n := h.s.slots[0].restarts; n != 2 {
		t.Fatalf("%d restarts after the next one hung, want 2", n)
	}
}

func TestStoppingAStartingWorkerDrainsIt(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1}, func(int, int) (behaviour, time.Duration) { return ignoresTerm, time.Hour })
	w := h.s.workers[h.current(0)]
	h.signal(syscall.SIGTERM)
	if w.state != stateDraining || w.killAt.IsZero() {
		t.Fatalf("a starting worker asked to stop is %s with kill deadline %v, want draining with one", w.state, w.killAt)
	}
}

func TestTheOldWorkersOfAReloadLeaveTheSlotsLastExitAlone(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1}, always(healthy))
	h.until("the worker online", time.Second, h.online)
	h.s.startReload()
	h.until("the reload ends", time.Minute, func() bool { return h.s.lastReload != nil })
	h.until("the old worker gone", time.Minute, func() bool { return h.procs.of(0)[0].gone })
	if e := h.s.slots[0].lastExit; e != nil {
		t.Fatalf("last exit %+v after a reload, want none: a reloaded worker's exit is not the slot's news", e)
	}
}

func TestQueuedConnectionsSkipTheBackoffOfAYoungDeath(t *testing.T) {
	for _, queued := range []int{0, 1} {
		h := newLoopHarness(t, Config{Workers: 1, MaxRestarts: 10}, always(healthy))
		h.until("the worker online", time.Second, h.online)
		heldSocket(t, h.s.slots[0], queued)
		h.worker(0).proc.(*fakeProcess).exit(exitStatus{1, ""})
		h.settle()
		at := h.s.slots[0].restartAt
		if queued > 0 && !at.Equal(h.now) {
			t.Errorf("with %d connection queued, the restart is due in %s, want at once", queued, at.Sub(h.now))
		}
		if queued == 0 && !at.After(h.now) {
			t.Errorf("with an empty queue, the restart is due at once, want after a backoff")
		}
	}
}

func TestTheLoopWakesForARestartAndForSteeringSamples(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1, WorkerTimeout: Off}, always(healthy))
	h.until("the worker online", time.Second, h.online)
	h.worker(0).proc.(*fakeProcess).exit(exitStatus{1, ""})
	h.settle()
	sl := h.s.slots[0]
	if sl.restartAt.IsZero() || !h.s.nextDeadline().Equal(sl.restartAt) {
		t.Fatalf("the loop wakes at %v, want the slot's restart at %v", h.s.nextDeadline(), sl.restartAt)
	}
	h.until("the replacement online", time.Minute, h.online)
	// Steering samples the queues though no worker timeout is set.
	h.s.nextSample = h.now.Add(10 * time.Millisecond)
	h.s.steer = &reuseport.Steering{}
	next := h.s.nextDeadline()
	h.s.steer = nil
	if !next.Equal(h.s.nextSample) {
		t.Fatalf("with steering the loop wakes at %v, want the next sample at %v", next, h.s.nextSample)
	}
}

func TestAStableExitHasNoBackoffToSkip(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1}, always(healthy))
	h.until("the worker online", time.Second, h.online)
	h.advance(2 * DefaultMinUptime)
	heldSocket(t, h.s.slots[0], 1)
	logs := h.captureLog()
	h.worker(0).proc.(*fakeProcess).exit(exitStatus{1, ""})
	h.settle()
	if !h.s.slots[0].restartAt.Equal(h.now) {
		t.Fatalf("a stable worker's restart is due in %s, want at once", h.s.slots[0].restartAt.Sub(h.now))
	}
	if evs := logEvents(t, logs, "connections queued: replacing at once"); len(evs) != 0 {
		t.Fatalf("a backoff of 0 was reported skipped: %v", evs)
	}
}
