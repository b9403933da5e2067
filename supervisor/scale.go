package supervisor

import (
	"errors"
	"time"
)

// scaleTo changes the number of worker slots to n, clamped to
// [1, MaxWorkers]. New slots start at once; the highest slots are scaled
// down: their worker drains and exits, then the slot's socket is closed. The kernel
// resets whatever is still queued on that socket then, unless
// net.ipv4.tcp_migrate_req moves it to another socket of the group.
func (s *supervisor) scaleTo(n int) (int, error) {
	if s.stopping {
		return s.activeSlots(), errors.New("the server is stopping")
	}
	n = max(1, min(n, s.cfg.MaxWorkers))
	from := s.activeSlots()
	for cur := from; cur < n; cur++ {
		sl := &slot{index: s.freeIndex()}
		s.slots = append(s.slots, sl)
		s.startWorker(sl)
	}
	for cur := from; cur > n; cur-- {
		var top *slot
		for _, sl := range s.slots {
			if !sl.scaledDown && (top == nil || sl.index > top.index) {
				top = sl
			}
		}
		top.scaledDown = true
		top.restartAt = time.Time{}
		for _, w := range []*worker{top.current, top.next} {
			if w != nil {
				s.stopWorker(w, reasonScaledDown)
			}
		}
	}
	if n != from {
		s.log.Info().Int("from", from).Int("to", n).Msg("scaled")
	}
	s.dropScaledDownSlots()
	s.notifyHooks()
	return n, nil
}

// freeIndex is the lowest slot index not in use.
func (s *supervisor) freeIndex() int {
	used := map[int]bool{}
	for _, sl := range s.slots {
		used[sl.index] = true
	}
	i := 0
	for used[i] {
		i++
	}
	return i
}

// dropScaledDownSlots removes the scaled-down slots whose workers are all
// gone, and closes their sockets.
func (s *supervisor) dropScaledDownSlots() {
	kept := s.slots[:0]
	for _, sl := range s.slots {
		if sl.scaledDown && sl.current == nil && sl.next == nil {
			sl.socket.close()
			continue
		}
		kept = append(kept, sl)
	}
	s.slots = kept
}
