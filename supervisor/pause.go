package supervisor

import "time"

// A supervisor that does not run (SIGSTOPped, frozen by a debugger, or
// starved of CPU) must not blame its workers for the silence it caused.
// While it is stopped, its workers keep beating: the heartbeats wait in
// each channel's socket buffer, and CLOCK_MONOTONIC, which time.Now reads,
// keeps going. On SIGCONT the loop's overdue timer and those heartbeats are
// ready at once, and a timer served first would judge every worker by a
// heartbeat it has not read yet.
//
// So, before judging, the loop reads the heartbeats already forwarded to
// it, and when it woke well past the latest moment it had planned to (it
// was not running), it moves every heartbeat reference forward by the
// whole time since it last ran: it cannot know when in that sleep it was
// stopped, and the heartbeats sent meanwhile would have woken it. A worker
// that was really hung before the pause is still found, only later by that
// much.

// pauseSlack is how late the loop may wake before it counts the delay as
// time it was not running. Timers fire a little late as a matter of course;
// a delay below this is never forgiven, so a hung worker's deadline cannot
// creep forward one late timer at a time.
const pauseSlack = 250 * time.Millisecond

// pauseClock tracks when the loop last went to sleep, and the latest
// moment it planned to wake. Its zero value has no plan yet. It belongs to
// the loop's goroutine.
type pauseClock struct {
	slept, wake time.Time
}

// sleep forgives a pause the loop has just woken from (see forgive), then
// records that the loop sleeps for at most d, and returns d.
func (p *pauseClock) sleep(s *supervisor, d time.Duration) time.Duration {
	p.forgive(s)
	p.slept = s.now()
	p.wake = p.slept.Add(d)
	return d
}

// resume runs when the loop's timer fires, before any worker is judged: it
// handles the events already waiting, then forgives a pause.
func (p *pauseClock) resume(s *supervisor) {
drain:
	for range cap(s.events) {
		select {
		case ev := <-s.events:
			s.handle(ev)
		default:
			break drain
		}
	}
	p.forgive(s)
}

// forgive runs when the loop has woken: if it woke more than pauseSlack
// past its plan, it moves every online worker's last heartbeat forward by
// the time since the loop went to sleep, never past now.
func (p *pauseClock) forgive(s *supervisor) {
	now := s.now()
	late := now.Sub(p.wake)
	if p.wake.IsZero() || late <= pauseSlack {
		return
	}
	gap := now.Sub(p.slept)
	p.slept, p.wake = now, now
	for _, w := range s.workers {
		if !w.cameOnline() {
			continue
		}
		w.lastBeat = w.lastBeat.Add(gap)
		if w.lastBeat.After(now) {
			w.lastBeat = now
		}
	}
	// The accept-queue judgements restart too: a queue seen once before
	// and once after the gap says nothing about the time between.
	for _, sl := range s.slots {
		sl.queue.stuckSince, sl.steer.stuckSince = time.Time{}, time.Time{}
	}
	s.log.Warn().Dur("late_ms", late).Dur("forgiven_ms", gap).Msg("supervisor was not running: heartbeat deadlines moved")
}
