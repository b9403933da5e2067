package supervisor

import (
	"testing"
	"time"
)

// fakeClock is the injected clock of the policy tests: it moves only when
// the test says so.
type fakeClock struct{ now time.Time }

func (c *fakeClock) advance(d time.Duration) { c.now = c.now.Add(d) }

// run starts a worker at the clock's time, lets it live for d and returns
// the policy's delay for its replacement.
func (c *fakeClock) run(p Policy, h *History, d time.Duration) time.Duration {
	started := c.now
	c.advance(d)
	return p.Exited(h, c.now.Sub(started))
}

func testPolicy() Policy {
	return Policy{
		MinUptime:   time.Second,
		BaseBackoff: 100 * time.Millisecond,
		MaxBackoff:  2 * time.Second,
		MaxRestarts: 5,
		Jitter:      func(time.Duration) time.Duration { return 0 },
	}
}

func TestStableWorkerIsReplacedAtOnce(t *testing.T) {
	p, c, h := testPolicy(), &fakeClock{}, History{}
	if d := c.run(p, &h, 5*time.Second); d != 0 {
		t.Fatalf("delay after a 5s run = %v, want 0", d)
	}
	if d := c.run(p, &h, time.Second); d != 0 {
		t.Fatalf("delay after a run of exactly MinUptime = %v, want 0", d)
	}
	if h.YoungDeaths != 0 {
		t.Fatalf("young deaths = %d after stable runs, want 0", h.YoungDeaths)
	}
}

func TestYoungDeathsBackOffExponentiallyUpToTheCap(t *testing.T) {
	p, c, h := testPolicy(), &fakeClock{}, History{}
	want := []time.Duration{100, 200, 400, 800, 1600, 2000, 2000}
	for i, w := range want {
		w *= time.Millisecond
		if d := c.run(p, &h, 10*time.Millisecond); d != w {
			t.Fatalf("death %d: delay %v, want %v", i+1, d, w)
		}
		c.advance(w)
	}
	if h.YoungDeaths != len(want) {
		t.Fatalf("young deaths = %d, want %d", h.YoungDeaths, len(want))
	}
}

func TestJitterIsAddedButNeverPassesTheCap(t *testing.T) {
	p, c, h := testPolicy(), &fakeClock{}, History{}
	p.Jitter = func(d time.Duration) time.Duration { return d / 10 }
	if d := c.run(p, &h, 0); d != 110*time.Millisecond {
		t.Fatalf("first delay with 10%% jitter = %v, want 110ms", d)
	}
	for range 10 {
		c.run(p, &h, 0)
	}
	if d := c.run(p, &h, 0); d != p.MaxBackoff {
		t.Fatalf("capped delay with jitter = %v, want %v", d, p.MaxBackoff)
	}
}

func TestDefaultJitterStaysWithinAFifth(t *testing.T) {
	p := testPolicy()
	p.Jitter = nil
	for range 1000 {
		h := History{Backoff: 400 * time.Millisecond}
		d := p.Exited(&h, 0)
		if d < 800*time.Millisecond || d >= 960*time.Millisecond {
			t.Fatalf("delay %v outside [800ms, 960ms)", d)
		}
	}
}

func TestStableRunResetsTheBackoff(t *testing.T) {
	p, c, h := testPolicy(), &fakeClock{}, History{}
	for range 4 {
		c.run(p, &h, 0)
	}
	if h.Backoff != 800*time.Millisecond {
		t.Fatalf("backoff after 4 young deaths = %v, want 800ms", h.Backoff)
	}
	if d := c.run(p, &h, 3*time.Second); d != 0 {
		t.Fatalf("delay after a stable run = %v, want 0", d)
	}
	if d := c.run(p, &h, 0); d != 100*time.Millisecond {
		t.Fatalf("first young death after a stable run: delay %v, want 100ms", d)
	}
	if h.YoungDeaths != 1 {
		t.Fatalf("young deaths = %d, want 1", h.YoungDeaths)
	}
}

func TestGiveUpOnlyWhenEverySlotFailsAndNoneIsOnline(t *testing.T) {
	p, c := testPolicy(), &fakeClock{}
	slots := make([]History, 3)
	for i := range slots {
		for range p.MaxRestarts - 1 {
			c.run(p, &slots[i], 0)
		}
	}
	if p.GiveUp(slots, 0) {
		t.Fatal("gave up before any slot reached MaxRestarts")
	}
	c.run(p, &slots[0], 0)
	c.run(p, &slots[1], 0)
	if p.GiveUp(slots, 0) {
		t.Fatal("gave up while slot 2 had not reached MaxRestarts")
	}
	c.run(p, &slots[2], 0)
	if !p.GiveUp(slots, 0) {
		t.Fatal("did not give up with every slot failing and none online")
	}
	if p.GiveUp(slots, 1) {
		t.Fatal("gave up although a worker is online")
	}
	c.run(p, &slots[2], 2*time.Second)
	if p.GiveUp(slots, 0) {
		t.Fatal("gave up although slot 2 just had a stable run")
	}
	if p.GiveUp(nil, 0) {
		t.Fatal("gave up with no slots")
	}
}
