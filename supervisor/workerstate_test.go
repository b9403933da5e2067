package supervisor

import (
	"testing"
	"time"
)

func TestEachWorkerStateHasOneDeadline(t *testing.T) {
	t0 := time.Unix(1_000_000, 0)
	s := &supervisor{cfg: Config{StartTimeout: 10 * time.Second, WorkerTimeout: 4 * time.Second,
		ReadyDelay: time.Second, Ready: ReadyStart}}
	cases := []struct {
		name string
		w    worker
		want time.Time
	}{
		{"starting: the start timeout", worker{state: stateStarting, started: t0}, t0.Add(10 * time.Second)},
		{"exec under --ready=start: the ready delay", worker{state: stateStarting, started: t0, exec: true, execd: true}, t0.Add(time.Second)},
		{"exec before its exec: the start timeout", worker{state: stateStarting, started: t0, exec: true}, t0.Add(10 * time.Second)},
		{"online: the worker timeout after its last beat", worker{state: stateOnline, lastBeat: t0}, t0.Add(4 * time.Second)},
		{"online exec without watchdog: none", worker{state: stateOnline, lastBeat: t0, exec: true}, time.Time{}},
		{"online exec with watchdog: the worker timeout", worker{state: stateOnline, lastBeat: t0, exec: true, watchdog: true}, t0.Add(4 * time.Second)},
		{"draining: its kill", worker{state: stateDraining, killAt: t0.Add(11 * time.Second)}, t0.Add(11 * time.Second)},
		{"draining by itself: none", worker{state: stateDraining}, time.Time{}},
		{"hung: its kill", worker{state: stateHung, killAt: t0.Add(2 * time.Second)}, t0.Add(2 * time.Second)},
		{"killed: none", worker{state: stateKilled, killAt: t0}, time.Time{}},
	}
	for _, c := range cases {
		if got := s.deadline(&c.w); !got.Equal(c.want) {
			t.Errorf("%s: deadline %v, want %v", c.name, got, c.want)
		}
	}
}
