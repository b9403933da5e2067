package supervisor

import (
	"time"

	"github.com/spreadhttp/spread/internal/procfs"
)

// The accept-queue hang detector needs no cooperation from the worker, so
// it covers any language: the supervisor holds every slot's listening
// socket and reads its accept queue (reuseport.FDQueueLen, one getsockopt)
// several times per worker timeout. A slot is stuck when its queue was
// non-empty at every reading and never shrank for the worker timeout:
// nobody took a connection from it. Before killing, one more check tells a
// hung worker from one that is merely overloaded at a full queue (where
// arrivals refill what it accepts between readings): the bytes the
// process read (rchar in /proc/PID/io) must not have grown either. A
// SIGSTOPped, deadlocked or spinning process reads nothing; a busy one
// reads its requests.
//
// For built-in workers this is a second line behind the heartbeat: it
// catches an accept loop that is wedged while the heartbeat goroutine
// still beats.

// queueWatch is the detector's state for one slot.
type queueWatch struct {
	// length is the last reading, -1 when the slot has no socket.
	length int
	// stuckSince is the first reading of the current stuck run; zero
	// while the queue is empty or shrinking.
	stuckSince time.Time
	// pid is the worker the run is judged against, and read what its
	// /proc/PID/io said at stuckSince (-1 when unreadable).
	pid  int
	read int64
}

// sampleInterval is how often the queues are read: eight readings per
// worker timeout, between 50ms and 1s, and with steering on five per
// quarantine time (at least every 10ms).
func (s *supervisor) sampleInterval() time.Duration {
	d := time.Second
	if s.cfg.WorkerTimeout > 0 {
		d = min(d, max(50*time.Millisecond, s.cfg.WorkerTimeout/8))
	}
	if s.steer != nil {
		d = min(d, max(10*time.Millisecond, s.cfg.SteerQuarantine/5))
	}
	return d
}

// sampleQueues reads every slot's accept queue and judges stuck slots.
func (s *supervisor) sampleQueues(now time.Time) {
	if s.cfg.WorkerTimeout <= 0 && s.steer == nil {
		s.nextSample = time.Time{}
		return
	}
	s.nextSample = now.Add(s.sampleInterval())
	for _, sl := range s.slots {
		s.sampleQueue(sl, now)
	}
}

func (s *supervisor) sampleQueue(sl *slot, now time.Time) {
	q := &sl.queue
	n := sl.queueLen()
	if s.steer != nil {
		s.judgeQuarantine(sl, n, now)
	}
	if s.cfg.WorkerTimeout <= 0 {
		return
	}
	w := sl.current
	if w == nil || w.state != stateOnline || s.stopping {
		q.length, q.stuckSince = n, time.Time{}
		return
	}
	if q.observe(now, n, w.pid, s.cfg.WorkerTimeout, readBytes) {
		s.markHung(w, now, s.log.Error().Int("queue", n).Dur("stuck_ms", s.cfg.WorkerTimeout),
			"worker hung: its slot's accept queue is not being accepted")
	}
}

// observe records reading n of the queue of a slot served by pid and
// reports whether the slot is hung: n stayed above zero and never shrank
// for longer than timeout, and pid read nothing meanwhile (when read can
// tell; read returns -1 when it cannot, and the queue alone decides).
func (q *queueWatch) observe(now time.Time, n, pid int, timeout time.Duration, read func(pid int) int64) bool {
	last := q.length
	q.length = n
	switch {
	case n <= 0:
		q.stuckSince = time.Time{}
		return false
	case q.stuckSince.IsZero() || q.pid != pid || n < last:
		q.stuckSince, q.pid, q.read = now, pid, read(pid)
		return false
	case now.Sub(q.stuckSince) <= timeout:
		return false
	}
	if r := read(pid); r >= 0 && r != q.read {
		// Still reading: overloaded, not hung. Judge it afresh.
		q.stuckSince, q.read = now, r
		return false
	}
	q.stuckSince = time.Time{}
	return true
}

// readBytes is the bytes pid has read so far (rchar in /proc/PID/io), or
// -1 when the file cannot be read.
func readBytes(pid int) int64 {
	n, err := procfs.ReadChars(pid)
	if err != nil {
		return -1
	}
	return n
}

// onNote applies an sd_notify datagram from one of the workers.
func (s *supervisor) onNote(n note) {
	w, ok := s.workers[n.pid]
	if !ok {
		s.log.Debug().Int("pid", n.pid).Msg("notify message from a process that is not a worker: ignored")
		return
	}
	if v, ok := n.fields["STATUS"]; ok {
		w.notified = v
	}
	if n.fields["WATCHDOG"] == "1" {
		w.watchdog = true
		w.lastBeat = s.now()
	}
	if n.fields["STOPPING"] == "1" && w.state == stateOnline {
		// It drains by itself: no kill deadline until spread asks too.
		w.state = stateDraining
		s.log.Info().Int("slot", w.slot.index).Int("pid", w.pid).Msg("worker stopping")
	}
	if n.fields["READY"] == "1" && w.state == stateStarting && w.failure == "" {
		s.onOnline(w)
	}
}
