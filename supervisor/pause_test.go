package supervisor

import (
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// pausedSupervisor is a supervisor state with two online workers, a and b,
// that both beat at the clock's time; no process is behind them, so it
// serves only tests that never signal a worker.
func pausedSupervisor(c *fakeClock) (s *supervisor, a, b *worker) {
	c.now = time.Unix(1_000_000, 0)
	s = &supervisor{
		cfg:     Config{WorkerTimeout: 2 * time.Second},
		log:     zerolog.Nop(),
		now:     func() time.Time { return c.now },
		workers: map[int]*worker{},
		events:  make(chan event, 8),
	}
	sl := &slot{}
	a = &worker{slot: sl, pid: 1, state: stateOnline, onlineAt: c.now, lastBeat: c.now}
	b = &worker{slot: sl, pid: 2, state: stateOnline, onlineAt: c.now, lastBeat: c.now}
	s.workers[1], s.workers[2] = a, b
	return s, a, b
}

func TestPauseOfTheSupervisorIsNotCountedAsWorkerSilence(t *testing.T) {
	c := &fakeClock{}
	s, a, b := pausedSupervisor(c)
	var p pauseClock
	c.advance(500 * time.Millisecond)
	p.sleep(s, time.Second)    // plans to wake within a second...
	c.advance(5 * time.Second) // ...and is stopped for five.
	// a's heartbeat waits in the channel; b's is not forwarded yet.
	s.events <- event{w: a, msg: message{word: msgBeat, fd: -1}}
	p.resume(s)
	if len(s.events) != 0 {
		t.Fatalf("%d events left unread before judging the workers", len(s.events))
	}
	if silent := c.now.Sub(a.lastBeat); silent != 0 {
		t.Fatalf("a's waiting heartbeat was not read: silent for %s", silent)
	}
	// b was silent for 500ms when the loop went to sleep; the pause does
	// not count.
	if silent := c.now.Sub(b.lastBeat); silent != 500*time.Millisecond {
		t.Fatalf("b counts as silent for %s after the supervisor's pause, want 500ms", silent)
	}
}

func TestLateTimerWithinTheSlackForgivesNothing(t *testing.T) {
	c := &fakeClock{}
	s, a, _ := pausedSupervisor(c)
	var p pauseClock
	p.sleep(s, 2*time.Second)
	c.advance(2*time.Second + pauseSlack) // late, but only as timers are
	p.resume(s)
	if silent := c.now.Sub(a.lastBeat); silent != 2*time.Second+pauseSlack {
		t.Fatalf("a hung worker's silence became %s, want %s", silent, 2*time.Second+pauseSlack)
	}
}
