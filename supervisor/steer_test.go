package supervisor

import (
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// steeredSlots is a supervisor state with n slots, each with a socket and
// an online worker; no process or socket is behind them.
func steeredSlots(n int) *supervisor {
	s := &supervisor{cfg: Config{SteerQuarantine: 100 * time.Millisecond}, log: zerolog.Nop()}
	for i := range n {
		sl := &slot{index: i, socket: &slotSocket{}}
		sl.current = &worker{slot: sl, pid: 100 + i, state: stateOnline}
		s.slots = append(s.slots, sl)
	}
	return s
}

func TestQuarantineTakesAStillQueueOutAndBringsItBackWhenItMoves(t *testing.T) {
	s := steeredSlots(2)
	a := s.slots[0]
	t0 := time.Unix(1_000_000, 0)
	s.judgeQuarantine(a, 5, t0)
	s.judgeQuarantine(a, 5, t0.Add(50*time.Millisecond))
	if !s.eligible(a) {
		t.Fatal("out of selection after 50 ms of a still queue, before the 100 ms quarantine time")
	}
	s.judgeQuarantine(a, 6, t0.Add(100*time.Millisecond))
	if s.eligible(a) {
		t.Fatal("still in selection after 100 ms of a queue that did not shrink")
	}
	s.judgeQuarantine(a, 4, t0.Add(120*time.Millisecond))
	if !s.eligible(a) {
		t.Fatal("not back in selection once its queue shrank")
	}
}

func TestQuarantineNeverTakesTheLastSlotInSelectionOut(t *testing.T) {
	s := steeredSlots(2)
	a, b := s.slots[0], s.slots[1]
	t0 := time.Unix(1_000_000, 0)
	for _, sl := range []*slot{a, b} {
		s.judgeQuarantine(sl, 5, t0)
	}
	s.judgeQuarantine(a, 5, t0.Add(150*time.Millisecond))
	s.judgeQuarantine(b, 5, t0.Add(150*time.Millisecond))
	if s.eligible(a) || !s.eligible(b) {
		t.Fatalf("in selection: a %v, b %v; want a out and b, the last one, kept in", s.eligible(a), s.eligible(b))
	}
	// Once a is back, b's still queue takes it out.
	s.judgeQuarantine(a, 0, t0.Add(200*time.Millisecond))
	s.judgeQuarantine(b, 5, t0.Add(250*time.Millisecond))
	if !s.eligible(a) || s.eligible(b) {
		t.Fatalf("in selection: a %v, b %v; want a back in and b out", s.eligible(a), s.eligible(b))
	}
}

func TestQuarantineKeepsOutTheSlotStuckLongestWhenAllStandStill(t *testing.T) {
	s := steeredSlots(2)
	hung, busy := s.slots[0], s.slots[1]
	t0 := time.Unix(1_000_000, 0)
	s.judgeQuarantine(hung, 5, t0)
	s.judgeQuarantine(busy, 5, t0.Add(20*time.Millisecond))
	s.judgeQuarantine(busy, 5, t0.Add(150*time.Millisecond))
	if s.eligible(busy) {
		t.Fatal("the busy slot stood still for 130 ms and stayed in selection")
	}
	// The hung one has stood still longer: it goes out, the busy one is
	// back in, and stays in as the last one.
	s.judgeQuarantine(hung, 5, t0.Add(150*time.Millisecond))
	if s.eligible(hung) || !s.eligible(busy) {
		t.Fatalf("in selection: hung %v, busy %v; want hung out and busy back in", s.eligible(hung), s.eligible(busy))
	}
	s.judgeQuarantine(busy, 5, t0.Add(300*time.Millisecond))
	if s.eligible(hung) || !s.eligible(busy) {
		t.Fatalf("in selection: hung %v, busy %v; want the busy one kept as the last", s.eligible(hung), s.eligible(busy))
	}
}

func TestQuarantineLeavesInASlotWhoseWorkerReadsThoughItsQueueStandsStill(t *testing.T) {
	s := steeredSlots(2)
	busy := s.slots[0]
	pid, feed := reader(t)
	busy.current.pid = pid
	t0 := time.Unix(1_000_000, 0)
	s.judgeQuarantine(busy, 5, t0)
	feed()
	s.judgeQuarantine(busy, 5, t0.Add(150*time.Millisecond))
	if !s.eligible(busy) {
		t.Fatal("out of selection although its worker read meanwhile")
	}
	// Reading nothing for the quarantine time from then on: out.
	s.judgeQuarantine(busy, 5, t0.Add(300*time.Millisecond))
	if s.eligible(busy) {
		t.Fatal("still in selection after 150 ms of a still queue and nothing read")
	}
}
