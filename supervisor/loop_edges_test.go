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
