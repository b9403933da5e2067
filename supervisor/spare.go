package supervisor

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// A spare is a built-in worker started in advance, with no slot: it has
// exec'd, run the Go runtime's and the packages' init and built what does
// not depend on its slot, and waits on its channel. When a slot's worker
// dies or hangs, the supervisor gives the spare that slot's socket (a
// "take" message carrying it), and the spare reports ready at once:
// a slot is down for about a millisecond instead of a process start (50
// ms and more). Once it is online, the next spare starts. One spare
// serves every slot, so it costs one idle process, not one per slot.
//
// A spare runs the binary and configuration of its generation: a reload
// or an upgrade retires it, and the next one starts once the reload is
// done. A command after -- has none: its listeners are passed at exec
// (LISTEN_FDS), so it cannot be started before its slot is known.

// spareKeeper is the supervisor's record of its spare.
type spareKeeper struct {
	// w is the spare process, nil when none runs; a retired spare stays
	// here until its exit is reaped, so that two never run at once.
	w *worker
	// ready is set once w waits for a slot.
	ready bool
	// nextAt is when the next spare may start (after a spare's failure).
	nextAt time.Time
	// failures counts spares in a row that ended before taking a slot.
	failures int
	// taken counts the spares that took a slot.
	taken uint64
	// handedTo is the spare that took a slot last, until it is online:
	// the next spare waits for it (spareHold).
	handedTo *worker
}

// spareHold bounds how long the next spare waits for the one that just
// took a slot to come online. Starting a process (fork, exec, the Go
// runtime's start) takes CPU from the worker that is bringing the slot
// back, and in make bench a next spare started before the taken one was
// online doubled the slot's down time (5 ms instead of 2.5).
const spareHold = time.Second

// reasonRetired is why the supervisor ended a spare: a reload, an upgrade
// or a stop made it stale or unneeded.
const reasonRetired = "retired"

// spareBackoff is the wait before the next spare after failures spares
// in a row ended before taking a slot: 100 ms, doubling, up to limit.
func spareBackoff(failures int, limit time.Duration) time.Duration {
	d := 100 * time.Millisecond
	for i := 1; i < failures && d < limit; i++ {
		d *= 2
	}
	return min(d, limit)
}

// wantSpare reports whether a spare should run now: the server is ready
// and stable (no reload, upgrade or stop under way) and its workers are
// built in.
func (s *supervisor) wantSpare() bool {
	return s.cfg.Spare && !s.cfg.execMode() && s.ready && !s.stopping && !s.handedOver &&
		s.reload == nil && (s.upgrade == nil || s.upgrade.done)
}

// spareDeadline is when tendSpare has something to do, zero when nothing:
// start a spare, end one that did not come up within the start timeout,
// or retire one that is no longer wanted.
func (s *supervisor) spareDeadline() time.Time {
	w := s.spares.w
	switch {
	case w == nil && s.wantSpare():
		return latest(s.spares.nextAt, overdue)
	case w == nil || w.state == stateKilled:
		return time.Time{}
	case !s.wantSpare():
		return overdue
	case !s.spares.ready:
		return w.started.Add(s.cfg.StartTimeout)
	}
	return time.Time{}
}

// overdue is a deadline long past: due at once, whatever the clock says.
var overdue = time.Unix(1, 0)

// tendSpare acts on the spare once its deadline has come (spareDeadline).
func (s *supervisor) tendSpare(now time.Time) {
	if d := s.spareDeadline(); d.IsZero() || now.Before(d) {
		return
	}
	w := s.spares.w
	switch {
	case w == nil:
		s.startSpare()
	case !s.wantSpare():
		s.retireSpare()
	default:
		s.log.Error().Int("pid", w.pid).Dur("timeout_ms", s.cfg.StartTimeout).Msg("spare did not come up: killed")
		w.failure = fmt.Sprintf("not waiting for a slot after %s", s.cfg.StartTimeout)
		s.kill(w)
	}
}

// startSpare starts a spare process.
func (s *supervisor) startSpare() {
	board := s.board.take()
	spec := s.baseSpec(board)
	spec.Spare = true
	w := &worker{board: board}
	p, err := s.procs.start(spec, nil,
		func(m message) { s.events <- event{w: w, msg: m} },
		func(e exitStatus) { s.events <- event{w: w, exit: &e} })
	if err != nil {
		s.board.release(board)
		s.spareFailed(err.Error())
		return
	}
	w.proc, w.pid = p, p.pid()
	w.started, w.lastBeat = s.now(), s.now()
	s.spares.w, s.spares.ready, s.spares.handedTo = w, false, nil
	s.log.Info().Int("pid", w.pid).Msg("spare started")
}

// onSpareEvent applies one event of the spare: a message before it took a
// slot, or its exit.
func (s *supervisor) onSpareEvent(ev event) {
	w := ev.w
	if ev.exit != nil {
		s.board.release(w.board)
		s.spares.w, s.spares.ready = nil, false
		if w.reason == reasonRetired {
			s.log.Info().Int("pid", w.pid).Msg("spare stopped")
			return
		}
		why := w.failure
		if why == "" {
			why = describeExit(ev.exit.code, ev.exit.signal)
		}
		s.spareFailed(fmt.Sprintf("spare %d: %s", w.pid, why))
		return
	}
	switch ev.msg.word {
	case msgSpare:
		s.spares.ready = true
		s.log.Info().Int("pid", w.pid).Dur("after_ms", s.now().Sub(w.started)).Msg("spare ready")
	case msgVersion:
		w.version = ev.msg.arg
	case msgFail:
		w.failure = ev.msg.arg
	default:
		s.log.Warn().Int("pid", w.pid).Str("message", ev.msg.word).Msg("unknown spare message")
	}
	if ev.msg.fd >= 0 {
		unix.Close(ev.msg.fd)
	}
}

// spareFailed logs why a spare ended or did not start, and holds the next
// one back: a spare that cannot start is a problem of the binary, which
// the next worker of a slot will also have, not a reason to spin.
func (s *supervisor) spareFailed(why string) {
	s.spares.failures++
	wait := spareBackoff(s.spares.failures, s.cfg.MaxBackoff)
	s.spares.nextAt = s.now().Add(wait)
	s.log.Warn().Str("reason", why).Int("failures", s.spares.failures).Dur("next_spare_in_ms", wait).Msg("spare ended before taking a slot")
}

// retireSpare ends the spare, if one runs. SIGKILL is enough: a spare has
// accepted nothing and holds nothing but its channel.
func (s *supervisor) retireSpare() {
	w := s.spares.w
	if w == nil || w.state == stateKilled {
		return
	}
	w.reason = reasonRetired
	s.spares.ready = false
	s.kill(w)
}

// spareOnline lets the next spare start at once when w, online now, is the
// spare that took a slot last.
func (s *supervisor) spareOnline(w *worker) {
	if w == s.spares.handedTo {
		s.spares.handedTo, s.spares.nextAt = nil, time.Time{}
	}
}

// takeSpare gives sl's socket to the spare, which becomes sl's worker and
// reports ready at once; false when no spare waits or the handover failed,
// and a new process must start.
func (s *supervisor) takeSpare(sl *slot) bool {
	w := s.spares.w
	if w == nil || !s.spares.ready || sl.socket == nil || s.stopping {
		return false
	}
	f, err := sl.socket.file()
	if err == nil {
		err = w.proc.send(msgTake, strconv.Itoa(sl.index), f)
		f.Close()
	}
	if err != nil {
		s.log.Warn().Err(err).Int("slot", sl.index).Int("pid", w.pid).Msg("spare not given the slot: starting a worker")
		s.retireSpare()
		return false
	}
	s.spares.w, s.spares.ready = nil, false
	s.spares.failures = 0
	s.spares.taken++
	s.spares.handedTo, s.spares.nextAt = w, s.now().Add(spareHold)
	w.slot = sl
	w.started, w.lastBeat = s.now(), s.now()
	s.setLimits(w)
	s.workers[w.pid] = w
	sl.current, sl.restartAt = w, time.Time{}
	s.log.Info().Int("slot", sl.index).Int("pid", w.pid).Msg("spare took the slot")
	return true
}

// latest is the later of a and b.
func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// The worker's side.

// workerStart is what a worker knows once it has its slot: its spec, its
// channel to the supervisor, and the descriptor of the slot's socket when
// it inherits one (listenerFD, or the one a spare was given).
type workerStart struct {
	spec     workerSpec
	ch       *net.UnixConn
	listener int
}

// workerSetup reads this worker's spec and opens its channel, once per
// process; in a spare it then waits for a slot (takeSlot).
var workerSetup = sync.OnceValues(func() (workerStart, error) {
	spec, err := readSpec()
	if err != nil {
		return workerStart{}, err
	}
	ch, err := fileConn(os.NewFile(channelFD, "spread-channel"))
	if err != nil {
		return workerStart{}, err
	}
	ws := workerStart{spec: spec, ch: ch, listener: listenerFD}
	if spec.Spare {
		if ws, err = takeSlot(ws); err != nil {
			ch.Close()
			return workerStart{}, err
		}
	}
	return ws, nil
})

// takeSlot tells the supervisor that this spare waits, and waits until it
// is given a slot: the slot's index and socket. A spare whose supervisor is
// gone (EOF) exits 0 here: it has nothing to finish.
func takeSlot(ws workerStart) (workerStart, error) {
	if err := send(ws.ch, msgSpare, "", nil); err != nil {
		return ws, fmt.Errorf("report spare: %w", err)
	}
	buf, oob := make([]byte, maxMessage), make([]byte, oobSpace)
	for {
		m, err := receive(ws.ch, buf, oob)
		if errors.Is(err, io.EOF) {
			os.Exit(0)
		}
		if err != nil {
			return ws, fmt.Errorf("wait for a slot: %w", err)
		}
		slot, convErr := strconv.Atoi(m.arg)
		if m.word != msgTake || m.fd < 0 || convErr != nil || slot < 0 {
			// Nothing else is sent to a spare; a stray message is dropped.
			if m.fd >= 0 {
				unix.Close(m.fd)
			}
			continue
		}
		ws.spec.Slot, ws.spec.Inherit, ws.spec.Spare = slot, true, false
		ws.listener = m.fd
		renameSpare(slot)
		return ws, nil
	}
}
