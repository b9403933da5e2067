package supervisor

import (
	"math/rand/v2"
	"time"
)

// Policy decides when a slot whose worker exited gets its next worker. It is
// pure: it sees only uptimes and the slot's own history, never a process, so
// every branch is covered by unit tests with an injected clock.
//
// The rules follow PM2's min_uptime/exp_backoff_restart_delay: a worker that
// ran at least MinUptime was healthy and is replaced at once; one that died
// younger restarts after an exponential backoff (BaseBackoff doubling, capped
// by MaxBackoff) plus jitter, so that a slot that keeps crashing cannot turn
// into a fork loop, and slots that crash together do not restart in lockstep.
type Policy struct {
	// MinUptime is the run time from which an exit counts as a stable run.
	MinUptime time.Duration
	// BaseBackoff is the delay after the first young death; it doubles after
	// each further one.
	BaseBackoff time.Duration
	// MaxBackoff caps every delay, jitter included.
	MaxBackoff time.Duration
	// MaxRestarts is the number of young deaths in a row after which a slot
	// counts as failing. When every slot is failing and no worker is online,
	// the supervisor gives up.
	MaxRestarts int
	// Jitter returns a random extra delay for a backoff of d. Nil means the
	// default, uniform in [0, d/5).
	Jitter func(d time.Duration) time.Duration
}

// History is one slot's restart record, owned by the supervisor loop and
// updated only through Policy.
type History struct {
	// YoungDeaths counts the workers in a row that died before MinUptime.
	YoungDeaths int
	// Backoff is the last backoff applied, before jitter; zero after a
	// stable run.
	Backoff time.Duration
}

// Exited records that a slot's worker exited after running for uptime and
// returns how long to wait before starting its replacement.
func (p Policy) Exited(h *History, uptime time.Duration) time.Duration {
	if uptime >= p.MinUptime {
		h.YoungDeaths = 0
		h.Backoff = 0
		return 0
	}
	h.YoungDeaths++
	switch {
	case h.Backoff == 0:
		h.Backoff = p.BaseBackoff
	default:
		h.Backoff *= 2
	}
	if h.Backoff > p.MaxBackoff {
		h.Backoff = p.MaxBackoff
	}
	d := h.Backoff + p.jitter(h.Backoff)
	if d > p.MaxBackoff {
		d = p.MaxBackoff
	}
	return d
}

// Failing reports whether a slot has died young MaxRestarts times in a row.
func (p Policy) Failing(h History) bool {
	return h.YoungDeaths >= p.MaxRestarts
}

// GiveUp reports whether the supervisor should stop serving: no worker is
// online and every slot is failing. While any worker is online the server
// keeps serving on the healthy slots and retries the others.
func (p Policy) GiveUp(slots []History, online int) bool {
	if online > 0 || len(slots) == 0 {
		return false
	}
	for _, h := range slots {
		if !p.Failing(h) {
			return false
		}
	}
	return true
}

func (p Policy) jitter(d time.Duration) time.Duration {
	if p.Jitter != nil {
		return p.Jitter(d)
	}
	if d < 5 {
		return 0
	}
	return rand.N(d / 5)
}
