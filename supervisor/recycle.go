package supervisor

import (
	"fmt"
	"math/rand/v2"
	"time"
)

// Recycling replaces a worker that passed one of its limits (requests
// answered, resident memory, age) before it rots, the way gunicorn's
// max_requests and PM2's max_memory_restart keep a leaking app alive for
// months. A recycle is one step of a rolling restart: the replacement
// starts first on the slot's socket, and only once it is online does the
// old worker get its stop signal and drain. At most one slot recycles at a
// time, and never during a reload, so capacity never drops by more than
// one worker and nothing queued is lost.

// The limits a worker can pass, as logs, Exit.Reason and metrics name them.
const (
	limitRequests = "max-requests"
	limitMemory   = "max-memory"
	limitAge      = "max-age"
)

// recycleInterval is how often the limits are checked: each check reads
// the scoreboard and, when --max-memory is set, one /proc file per worker.
// A busy worker answers a few hundred requests past --max-requests within
// one interval.
const recycleInterval = 200 * time.Millisecond

// recycles reports whether any recycling limit is set.
func (c *Config) recycles() bool {
	return c.MaxRequests > 0 || c.MaxMemory > 0 || c.MaxAge > 0
}

// setLimits draws w's own limits: the configured ones plus jitter, so that
// workers started together are not all recycled together.
func (s *supervisor) setLimits(w *worker) {
	if s.cfg.MaxRequests > 0 {
		w.maxRequests = s.cfg.MaxRequests
		if j := s.cfg.MaxRequestsJitter; j > 0 {
			w.maxRequests += rand.Uint64N(j + 1)
		}
	}
	if s.cfg.MaxAge > 0 {
		w.maxAge = s.cfg.MaxAge
		if j := s.cfg.MaxAgeJitter; j > 0 {
			w.maxAge += rand.N(j + 1)
		}
	}
}

// checkRecycle starts the recycle of the first worker past a limit, unless
// one is in flight, a reload runs, or the server stops.
func (s *supervisor) checkRecycle(now time.Time) {
	s.nextRecycle = now.Add(recycleInterval)
	if s.stopping || s.reload != nil || s.recycling != nil {
		return
	}
	for _, sl := range s.slots {
		w := sl.current
		if w == nil || w.state != stateOnline || sl.scaledDown || sl.next != nil || now.Before(sl.recycleRetryAt) {
			continue
		}
		if limit, detail := s.overLimit(w, now); limit != "" {
			s.startRecycle(sl, w, limit, detail)
			return
		}
	}
}

// overLimit names the first limit w has passed, with what it measured.
func (s *supervisor) overLimit(w *worker, now time.Time) (limit, detail string) {
	if w.maxRequests > 0 {
		if n := s.board.read(w.board).Requests(); n >= w.maxRequests {
			return limitRequests, fmt.Sprintf("%d requests (limit %d)", n, w.maxRequests)
		}
	}
	if s.cfg.MaxMemory > 0 {
		if rss, _ := procUsage(w.pid); rss > s.cfg.MaxMemory {
			return limitMemory, fmt.Sprintf("RSS %s (limit %s)", formatBytes(rss), formatBytes(s.cfg.MaxMemory))
		}
	}
	if w.maxAge > 0 {
		if age := now.Sub(w.started); age >= w.maxAge {
			return limitAge, fmt.Sprintf("age %s (limit %s)", age.Round(time.Millisecond), w.maxAge.Round(time.Millisecond))
		}
	}
	return "", ""
}

// startRecycle starts w's replacement; reloadStepDone hands the slot over
// once it is online.
func (s *supervisor) startRecycle(sl *slot, w *worker, limit, detail string) {
	s.log.Info().Int("slot", sl.index).Int("pid", w.pid).Str("limit", limit).Str("measured", detail).Msg("worker recycling")
	nw, err := s.spawn(sl)
	if err != nil {
		sl.recycleRetryAt = s.now().Add(s.cfg.MaxBackoff)
		s.log.Error().Err(err).Int("slot", sl.index).Msg("recycle failed: the old worker keeps serving")
		return
	}
	w.recycle = limit
	sl.next = nw
	s.recycling = sl
}

// recycleDone ends the recycle of sl, whose new worker is online, and
// runs a reload that was asked for meanwhile.
func (s *supervisor) recycleDone() {
	s.recycling = nil
	if s.reloadAfterRecycle {
		s.reloadAfterRecycle = false
		s.startReload()
	}
}

// recycleFailed ends the recycle of sl after its new worker w exited
// before coming online: the old worker keeps serving, and the slot is not
// recycled again before --max-backoff has passed.
func (s *supervisor) recycleFailed(sl *slot, w *worker) {
	if old := sl.current; old != nil {
		old.recycle = ""
	}
	sl.recycleRetryAt = s.now().Add(s.cfg.MaxBackoff)
	s.log.Error().Int("slot", sl.index).Int("pid", w.pid).Str("reason", s.startFailure(w)).
		Msg("recycle failed: the old worker keeps serving")
	if sl.current == nil && !s.stopping && !sl.scaledDown && sl.restartAt.IsZero() {
		// The old worker died while its replacement was starting.
		s.scheduleRestart(sl, s.policy.Exited(&sl.history, 0))
	}
	s.recycleDone()
}

// formatBytes renders a byte count in MiB for logs and errors.
func formatBytes(b uint64) string { return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20)) }

// startFailure says why w, a new worker of a reload or recycle, exited
// before it came online.
func (s *supervisor) startFailure(w *worker) string {
	if w.failure != "" {
		return w.failure
	}
	return "new worker " + describeExit(w.end.code, w.end.signal) + " before coming online"
}
