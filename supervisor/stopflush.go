package supervisor

import (
	"time"

	"github.com/spreadhttp/spread/reuseport"
)

// stopFlush makes a graceful stop with steering lose no connection:
//
//  1. The program refuses every new connection (reuseport RefuseAll): a
//     client's SYN is answered with a RST, "connection refused", which it
//     can retry elsewhere, instead of being queued on a socket nobody will
//     accept from again.
//  2. The workers go on accepting until every slot's accept queue is
//     empty and no connection to the port is still in its handshake, for
//     at most stopFlushLimit (a hung worker's queue never empties). A
//     connection whose SYN came before the refusal joins a queue only
//     once its handshake completes, and with TCP_DEFER_ACCEPT once its
//     request has arrived: until then the kernel counts it in no queue
//     but lists it as SYN_RECV in /proc/net/tcp.
//  3. Only then is every worker stopped (stopWorker: SIGTERM) and drains as in any
//     stop.
//
// Without it a worker stops accepting at its SIGTERM while the kernel still
// queues new connections on its socket (the supervisor holds it), and the
// kernel resets them all when the supervisor closes the sockets at the end
// (net.ipv4.tcp_migrate_req has nowhere to move them: every socket of the
// group closes); docs/steering.md has the figures.
//
// It runs after the drain delay, if any. Not after an upgrade's handover,
// where the new supervisor's workers serve on; nor in an upgrade's new
// supervisor that stops before it told the old one it is ready: the old one
// still writes the shared map and serves on, and a refusal written there
// would stay.
//
// stopFlush is a hook: tick ends the flush and deadline wakes the loop to
// read the queues.
type stopFlush struct {
	// refusing is set once the flush began and stays set: the server is
	// going.
	refusing bool
	// until is when the workers are retired at the latest; zero when no
	// flush runs.
	until time.Time
}

// stopFlushLimit bounds how long a stop waits for the queues to empty.
const stopFlushLimit = time.Second

// stopFlushPoll is how often the queues are read meanwhile.
const stopFlushPoll = 5 * time.Millisecond

// flushBeforeRetiring starts the flush of a graceful stop and reports
// whether it did; false (no steering, or after a handover) means the
// caller retires the workers now.
func (s *supervisor) flushBeforeRetiring() bool {
	if s.steer == nil || s.handedOver || !s.flush.until.IsZero() || !s.ownsSteering() {
		return false
	}
	if err := s.steer.RefuseAll(); err != nil {
		s.stopSteering(err.Error())
		return false
	}
	s.flush.refusing = true
	s.flush.until = s.now().Add(stopFlushLimit)
	s.log.Info().Msg("new connections refused: the workers empty the accept queues before they drain")
	return true
}

// queuesEmpty reports whether no slot has a connection waiting.
func (s *supervisor) queuesEmpty() bool {
	for _, sl := range s.slots {
		if sl.queueLen() > 0 {
			return false
		}
	}
	return true
}

// handshakesUnderWay is reuseport.HandshakesUnderWay, 0 when the tables
// cannot be read, which leaves the flush to the queues alone.
func handshakesUnderWay(addr string) int {
	n, _ := reuseport.HandshakesUnderWay(addr)
	return n
}

func (f *stopFlush) ready(*supervisor) error    { return nil }
func (f *stopFlush) stopping(*supervisor)       {}
func (f *stopFlush) workersChanged(*supervisor) {}
func (f *stopFlush) close()                     {}

func (f *stopFlush) tick(s *supervisor) {
	if f.until.IsZero() {
		return
	}
	empty := s.queuesEmpty() && handshakesUnderWay(s.cfg.Addr) == 0
	if !empty && s.now().Before(f.until) {
		return
	}
	f.until = time.Time{}
	s.log.Info().Bool("queues_empty", empty).Int("workers", len(s.workers)).Msg("accept queues flushed: workers drain")
	for _, w := range s.workers {
		s.stopWorker(w, reasonStopped)
	}
}

func (f *stopFlush) deadline(s *supervisor) time.Time {
	if f.until.IsZero() {
		return time.Time{}
	}
	return s.now().Add(stopFlushPoll)
}
