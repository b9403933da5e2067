package supervisor

import (
	"syscall"
	"time"
)

// drainDelay holds a graceful stop back for Config.DrainDelay, so that a
// load balancer in front of several hosts learns that this one is leaving
// before any of its sockets close:
//
//  1. The stop begins (TERM, INT, `spread stop`, systemd): every online
//     built-in worker gets SIGUSR2, "the server is leaving". From then on
//     its /healthz answers 503 with Connection: close, and every other
//     route serves as before. The balancer's health checks fail and it
//     sends new requests elsewhere.
//  2. When the delay has passed, or a second TERM or INT cuts it short,
//     every worker is stopped (stopWorker: SIGTERM) and drains as in any
//     stop.
//
// Exec workers (`-- CMD`) get no SIGUSR2: its default action would kill a
// program that does not catch it. The delay still holds their stop signal
// back; what their /healthz answers meanwhile is the program's business.
//
// It does not replace a worker that dies during the delay: the server is
// stopping, and restartOrGiveUp starts nothing then.
//
// drainDelay is a hook: tick ends the delay and deadline wakes the loop
// for it, changed tells workers that came online during the delay.
type drainDelay struct {
	// until is when the workers are stopped; zero when no delay runs.
	until time.Time
	// told holds the pids already sent SIGUSR2.
	told map[int]bool
}

// holdStop starts the drain delay of a graceful stop and reports whether
// it did; false (DrainDelay 0) means the caller stops the workers now.
func (s *supervisor) holdStop() bool {
	// After an upgrade's handover the server is not leaving: the new
	// supervisor's workers serve on, and a balancer must not see 503.
	if s.cfg.DrainDelay <= 0 || s.handedOver {
		return false
	}
	s.drain.until = s.now().Add(s.cfg.DrainDelay)
	s.drain.told = map[int]bool{}
	s.log.Info().Dur("delay_ms", s.cfg.DrainDelay).Msg("drain delay started: /healthz answers 503")
	s.tellLeaving()
	return true
}

// cutDrainDelay ends a running drain delay on a second TERM or INT, and
// reports whether it did; the signal is then fully handled.
func (s *supervisor) cutDrainDelay(sig syscall.Signal) bool {
	if s.drain.until.IsZero() || (sig != syscall.SIGTERM && sig != syscall.SIGINT) {
		return false
	}
	s.endDrainDelay("signal " + unixSignalName(sig))
	return true
}

// tellLeaving sends SIGUSR2 to every online built-in worker not yet told.
// Only online ones: ServeWorker catches SIGUSR2 before it reports online,
// and the signal's default action kills a process that does not catch it.
func (s *supervisor) tellLeaving() {
	for pid, w := range s.workers {
		if w.exec || w.state != stateOnline || s.drain.told[pid] {
			continue
		}
		s.drain.told[pid] = true
		w.signal(syscall.SIGUSR2)
	}
}

// endDrainDelay stops every worker: the stop proceeds as without delay.
func (s *supervisor) endDrainDelay(why string) {
	s.drain.until, s.drain.told = time.Time{}, nil
	s.log.Info().Str("cause", why).Int("workers", len(s.workers)).Msg("drain delay ended: workers drain")
	if s.flushBeforeRetiring() {
		return
	}
	for _, w := range s.workers {
		s.stopWorker(w, reasonStopped)
	}
}

func (d *drainDelay) ready(*supervisor) error { return nil }
func (d *drainDelay) stopping(*supervisor)    {}
func (d *drainDelay) close()                  {}

func (d *drainDelay) workersChanged(s *supervisor) {
	if !d.until.IsZero() {
		s.tellLeaving()
	}
}

func (d *drainDelay) tick(s *supervisor) {
	if !d.until.IsZero() && !s.now().Before(d.until) {
		s.endDrainDelay("delay passed")
	}
}

func (d *drainDelay) deadline(*supervisor) time.Time { return d.until }
