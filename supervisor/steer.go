package supervisor

import (
	"slices"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spreadhttp/spread/reuseport"
)

// inheritedSlot reports whether slot index came with an upgrade.
func (s *supervisor) inheritedSlot(index int) bool {
	for _, is := range s.inherited.Slots {
		if is.Index == index {
			return true
		}
	}
	return false
}

// Steering keeps new connections away from slots that cannot take them.
// The kernel alone hashes each connection to any socket of the group,
// whatever state that slot's worker is in, so a hung worker collects about
// 1/N of all new connections until the hang rules replace it. With an
// SK_REUSEPORT program attached (reuseport.Steering) the supervisor names
// the eligible slots: those whose worker is online and not draining, and
// whose accept queue is moving. Quarantine is fast and reversible: a slot
// whose queue has not shrunk for --steer-quarantine (100 ms) while
// non-empty gets no new connections until it does; killing stays with the
// hang rules. Selected as select-or-migrate, the program also moves the
// queue of a socket that closes (scale-down, shutdown) to an eligible one,
// with net.ipv4.tcp_migrate_req at 0.

// Steer modes of Config.Steer.
const (
	SteerAuto = "auto" // on when the kernel and privileges allow, else off with one log line
	SteerOn   = "on"   // on, or the server does not start
	SteerOff  = "off"  // the kernel's hash alone, as before
)

// DefaultSteerQuarantine is how long a non-empty accept queue may stand
// still before its slot gets no new connections.
const DefaultSteerQuarantine = 100 * time.Millisecond

// quarantine is one slot's standing with the steering program.
type quarantine struct {
	out        bool
	last       int
	stuckSince time.Time
	// read is what the slot's worker had read (rchar) at stuckSince, -1
	// when unknown.
	read int64
}

// openSteering loads the program, or records why steering is off. Only
// Steer == SteerOn makes a failure fatal.
func (s *supervisor) openSteering() error {
	if in := s.inherited; in != nil && len(in.Steer) == 3 {
		return s.inheritSteering()
	}
	if s.cfg.Steer == SteerOff {
		s.steerOff = "--steer=off"
		return nil
	}
	st, err := reuseport.NewSteering(4*s.cfg.MaxWorkers + 8)
	if err != nil {
		if s.cfg.Steer == SteerOn {
			return err
		}
		s.steerOff = err.Error()
		s.log.Info().Str("why", s.steerOff).Msg("connection steering off: the kernel's hash alone picks each connection's worker")
		return nil
	}
	s.steer = st
	s.log.Info().Bool("migrates", st.Migrates()).Dur("quarantine_ms", s.cfg.SteerQuarantine).Msg("connection steering on")
	return nil
}

// inheritSteering takes over the steering an upgrade's old supervisor
// handed over, already attached with the sockets in its map; with
// --steer=off it detaches it instead.
func (s *supervisor) inheritSteering() error {
	in := s.inherited
	if s.cfg.Steer == SteerOff {
		for _, fd := range in.Steer {
			_ = unix.Close(fd)
		}
		if len(in.Slots) > 0 {
			if err := reuseport.DetachSteering(in.Slots[0].FD); err != nil {
				s.log.Warn().Err(err).Msg("upgrade: the old supervisor's steering stays attached")
			}
		}
		s.steerOff = "--steer=off"
		return nil
	}
	st, err := reuseport.SteeringFromFiles(in.Steer[0], in.Steer[1], in.Steer[2], in.SteerMigrates)
	if err != nil {
		return err
	}
	s.steer, s.steerInherited = st, true
	s.log.Info().Bool("migrates", st.Migrates()).Msg("connection steering taken over from the old supervisor")
	return nil
}

// steerSocket puts sl's socket in the program's map.
func (s *supervisor) steerSocket(sl *slot) {
	if s.steer == nil || s.steerInherited && s.inherited != nil && sl.socket != nil && s.inheritedSlot(sl.index) {
		// Already in the map the old supervisor handed over.
		return
	}
	if err := s.steer.Add(sl.index, sl.socket.fd); err != nil {
		s.stopSteering(err.Error())
	}
}

// stopSteering turns steering off for good, saying why once.
func (s *supervisor) stopSteering(why string) {
	s.log.Warn().Str("why", why).Msg("connection steering off: the kernel's hash alone picks each connection's worker")
	s.steer.Close()
	s.steer, s.steerOff = nil, why
}

// eligible reports whether sl may get new connections.
func (s *supervisor) eligible(sl *slot) bool {
	return s.serving(sl) && !sl.steer.out
}

// serving reports whether sl's worker takes connections, quarantine aside:
// its socket is held, it is not scaled down, and its worker is online
// (not starting, draining or hung).
func (s *supervisor) serving(sl *slot) bool {
	w := sl.current
	return !s.stopping && sl.socket != nil && !sl.scaledDown &&
		w != nil && w.state == stateOnline
}

// ownsSteering reports whether this supervisor writes the eligible map.
// During an upgrade the old and new supervisor share the map: the old
// writes it until the new one is ready, the new one from then on.
func (s *supervisor) ownsSteering() bool {
	return !s.handedOver && (s.inherited == nil || s.inherited.Ready < 0)
}

// updateSteering tells the program which slots are eligible; it writes
// the map only when the set changed.
func (s *supervisor) updateSteering() {
	// A stop's flush refuses every new connection to the end.
	if s.steer == nil || !s.ownsSteering() || s.flush.refusing {
		return
	}
	var keys []int
	for _, sl := range s.slots {
		if s.eligible(sl) {
			keys = append(keys, sl.index)
		}
	}
	slices.Sort(keys)
	if err := s.steer.SetEligible(keys); err != nil {
		s.stopSteering(err.Error())
	}
}

// judgeQuarantine applies one reading n of sl's accept queue.
func (s *supervisor) judgeQuarantine(sl *slot, n int, now time.Time) {
	q := &sl.steer
	last := q.last
	q.last = n
	switch {
	case n <= 0 || n < last:
		q.stuckSince = time.Time{}
		if q.out {
			q.out = false
			s.log.Info().Int("slot", sl.index).Int("queue", n).Msg("slot back in selection: its accept queue moves")
		}
	case q.stuckSince.IsZero():
		q.stuckSince, q.read = now, workerRead(sl)
	case !q.out && now.Sub(q.stuckSince) >= s.cfg.SteerQuarantine:
		// A worker that read bytes meanwhile is taking requests, only not
		// as fast as they come (or starved of CPU on a loaded machine):
		// taking it out would pile its share on the others. A stopped,
		// deadlocked or spinning one reads nothing. As the hang detector
		// judges, from /proc/PID/io.
		if r := workerRead(sl); r >= 0 && r != q.read {
			q.stuckSince, q.read = now, r
			return
		}
		if s.lastInSelection(sl) {
			less := s.lessStuck(sl)
			if less == nil {
				return
			}
			less.steer.out = false
			s.log.Info().Int("slot", less.index).Int("queue", less.steer.last).
				Msg("slot back in selection: its accept queue stood still for less time than the last one's")
		}
		q.out = true
		s.log.Warn().Int("slot", sl.index).Int("queue", n).Dur("still_ms", now.Sub(q.stuckSince)).
			Msg("slot out of selection: its accept queue is not moving")
	}
}

// lastInSelection reports whether sl is the only slot left in selection.
// Quarantine never takes that one out: with no slot eligible the program
// leaves the choice to the kernel's hash over every socket, stuck ones
// included, which is worse than a slot that is only slow: on a loaded
// machine the healthy slot that takes every connection while the other is
// hung can stand still for the quarantine time too.
func (s *supervisor) lastInSelection(sl *slot) bool {
	for _, other := range s.slots {
		if other != sl && s.eligible(other) {
			return false
		}
	}
	return true
}

// workerRead is what sl's worker has read so far (readBytes), -1 when
// there is no worker or it cannot be read.
func workerRead(sl *slot) int64 {
	if sl.current == nil {
		return -1
	}
	return readBytes(sl.current.pid)
}

// lessStuck returns the slot, out of selection by quarantine alone, whose
// queue has stood still for the shortest time, if shorter than sl's; nil if
// none. When every serving slot's queue stands still (a hung worker next to
// ones that are merely overloaded), the one stuck longest is the one to keep
// out: the hung one, never the busy ones around it.
func (s *supervisor) lessStuck(sl *slot) *slot {
	var best *slot
	for _, o := range s.slots {
		if o == sl || !o.steer.out || !s.serving(o) || !o.steer.stuckSince.After(sl.steer.stuckSince) {
			continue
		}
		if best == nil || o.steer.stuckSince.After(best.steer.stuckSince) {
			best = o
		}
	}
	return best
}

// steeringState is the status's word for steering.
func (s *supervisor) steeringState() string {
	switch {
	case s.steer == nil:
		return "off: " + s.steerOff
	case !s.steer.Migrates():
		return "on (no queue migration before Linux 5.14)"
	}
	return "on"
}
