package supervisor

import "time"

// workerState is where a worker is in its life, as the loop sees it. Each
// state has at most one deadline (see deadline), at which watch acts:
//
//	starting → online      it reported ready (or ran for the ready delay)
//	starting → killed      the start timeout passed
//	online   → hung        no heartbeat, or its slot's queue stood still, for the worker timeout
//	starting, online → draining   told to stop (stopWorker), or said STOPPING=1
//	draining, hung → killed       its kill deadline passed
//	any      → killed      a forced stop
//
// A worker leaves the loop when its exit is reaped, whatever its state.
type workerState int

const (
	// stateStarting: started, not online yet; deadline: the start
	// timeout, or the ready delay of an exec worker under --ready=start.
	stateStarting workerState = iota
	// stateOnline: serving; deadline: the worker timeout after its last
	// heartbeat, when its heartbeat is judged (judgedByBeat).
	stateOnline
	// stateDraining: told to drain and exit, or said it stops (an exec
	// worker's STOPPING=1); deadline: its kill, when spread asked.
	stateDraining
	// stateHung: sent the hang signal, its replacement started; deadline:
	// its kill, hungGrace later.
	stateHung
	// stateKilled: sent SIGKILL; only its exit is awaited. No deadline.
	stateKilled
)

// String is the state as status shows it.
func (st workerState) String() string {
	switch st {
	case stateStarting:
		return "starting"
	case stateOnline:
		return "online"
	case stateDraining:
		return "draining"
	case stateHung:
		return "hung"
	case stateKilled:
		return "killed"
	}
	return "unknown"
}

// deadline is when the loop next acts on w by itself, zero when it will
// not: watch acts once the clock reaches it, and the loop's timer is set
// to the earliest of them. This is the one place the rules are written.
func (s *supervisor) deadline(w *worker) time.Time {
	switch w.state {
	case stateStarting:
		d := w.started.Add(s.cfg.StartTimeout)
		if s.readyAfterDelay(w) {
			d = earliest(d, w.started.Add(s.cfg.ReadyDelay))
		}
		return d
	case stateOnline:
		if w.judgedByBeat() && s.cfg.WorkerTimeout > 0 {
			return w.lastBeat.Add(s.cfg.WorkerTimeout)
		}
	case stateDraining, stateHung:
		return w.killAt
	}
	return time.Time{}
}

// cameOnline reports whether w ever came online, whatever its state now.
func (w *worker) cameOnline() bool { return !w.onlineAt.IsZero() }

// earliest is the earlier of a and b.
func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
