package supervisor

import (
	"testing"
	"time"
)

// An exec worker speaks sd_notify; onNote applies each datagram to the
// worker that sent it.
func TestNotifyMessagesMoveAWorkerThroughItsLife(t *testing.T) {
	// The worker never reports ready on the channel: it waits for READY=1.
	h := newLoopHarness(t, Config{Workers: 1}, func(int, int) (behaviour, time.Duration) { return healthy, time.Hour })
	pid := h.current(0)
	w := h.s.workers[pid]
	h.s.onNote(note{pid: pid + 1000, fields: map[string]string{"READY": "1"}}) // not a worker
	h.s.onNote(note{pid: pid, fields: map[string]string{"STOPPING": "1", "READY": "0"}})
	if w.state != stateStarting {
		t.Fatalf("state %s after READY=0 and STOPPING=1 while starting, want still starting", w.state)
	}
	w.failure = "bind: denied"
	h.s.onNote(note{pid: pid, fields: map[string]string{"READY": "1"}})
	if w.state != stateStarting {
		t.Fatal("READY=1 after the worker said why it failed brought it online")
	}
	w.failure = ""
	h.s.onNote(note{pid: pid, fields: map[string]string{"READY": "1", "STATUS": "warming up"}})
	if w.state != stateOnline || w.notified != "warming up" || !h.online() {
		t.Fatalf("after READY=1: state %s, status %q; want online with the STATUS kept", w.state, w.notified)
	}
	if w.watchdog {
		t.Fatal("watchdog armed before any WATCHDOG=1")
	}
	h.now = h.now.Add(time.Second)
	h.s.onNote(note{pid: pid, fields: map[string]string{"WATCHDOG": "1"}})
	if !w.watchdog || !w.lastBeat.Equal(h.now) {
		t.Fatalf("after WATCHDOG=1: armed %v, last beat %v; want armed, beat now", w.watchdog, w.lastBeat)
	}
	h.s.onNote(note{pid: pid, fields: map[string]string{"WATCHDOG": "0", "STOPPING": "1"}})
	if w.state != stateDraining || !w.killAt.IsZero() {
		t.Fatalf("after STOPPING=1: state %s, kill at %v; want draining with no kill deadline", w.state, w.killAt)
	}
}
