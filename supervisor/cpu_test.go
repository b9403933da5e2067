package supervisor

import (
	"testing"
	"time"
)

func TestCPUMeterIsPercentOfACoreOverTheLastSecond(t *testing.T) {
	start := time.Unix(1000, 0)
	var m cpuMeter
	at := func(d time.Duration) time.Time { return start.Add(d) }
	// Half a core since the start, read 2s in.
	if got := m.sample(at(2*time.Second), start, 1.0); got != 50 {
		t.Fatalf("1 CPU second over 2s: %v%%, want 50", got)
	}
	// 0.3s later: too short a window, the last figure stands.
	if got := m.sample(at(2300*time.Millisecond), start, 1.3); got != 50 {
		t.Fatalf("within the window: %v%%, want the last figure, 50", got)
	}
	// A second after the window began: 1.5 CPU seconds in 1s.
	if got := m.sample(at(3*time.Second), start, 2.5); got != 150 {
		t.Fatalf("1.5 CPU seconds over 1s: %v%%, want 150", got)
	}
	// Idle for 4s.
	if got := m.sample(at(7*time.Second), start, 2.5); got != 0 {
		t.Fatalf("idle: %v%%, want 0", got)
	}
}
