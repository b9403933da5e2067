package supervisor

import (
	"os"
	"testing"
	"time"
)

func TestTellingThePredecessorLogsNoErrorWhenItWorks(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1}, always(healthy))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	h.s.inherited = &upgradeSpec{OldPid: 1, Ready: dupFD(t, w), Alive: -1, Control: -1, Metrics: -1}
	logs := h.captureLog()
	h.s.tellPredecessor()
	if evs := logEvents(t, logs, "upgrade: cannot tell the old supervisor"); len(evs) != 0 {
		t.Fatalf("an error logged though the old supervisor was told: %v", evs)
	}
	if evs := logEvents(t, logs, "upgrade: took over from the old supervisor"); len(evs) != 1 {
		t.Fatalf("took over logged %d times, want once", len(evs))
	}
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 16)
	if n, _ := r.Read(buf); string(buf[:n]) != "ready\n" {
		t.Fatalf("the old supervisor read %q", buf[:n])
	}
}
