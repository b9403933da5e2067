package supervisor

// A rolling restart replaces workers one slot at a time, nginx's way: start
// the new worker (from the binary on disk now, so a rebuilt binary is an
// upgrade), wait until it is online, and only then ask the old one to
// drain. The new worker inherits the slot's socket, so old and new accept
// from the same queue during the handover and no queued connection is
// lost. If a new worker does not come online, the reload stops there and
// the old workers keep serving.
//
// A reload asked for while one runs is queued behind it, and runs once it
// has ended, whether it finished or failed: the second HUP is often the one
// sent after fixing the binary that made the first fail.

import "time"

// reloadState is a rolling restart in progress.
type reloadState struct {
	id    int     // see ReloadResult.ID
	queue []*slot // slots still to replace
	again bool    // another reload was asked for meanwhile
}

// Outcomes of a reload, as ReloadResult.Result says them.
const (
	ReloadFinished = "finished"
	ReloadFailed   = "failed"
)

// ReloadResult is the outcome of a rolling restart.
type ReloadResult struct {
	// ID numbers the server's reloads from 1. A reload asked for while one
	// runs is answered by the reload queued behind it.
	ID int `json:"id"`
	// Result is ReloadFinished or ReloadFailed.
	Result string `json:"result"`
	// Error says why a reload failed; the old workers keep serving.
	Error string `json:"error,omitempty"`
	// At is when the reload ended.
	At time.Time `json:"at"`
}

// startReload begins a rolling restart, or queues one behind the running
// reload, so that a HUP sent after a rebuild is never lost. It returns the
// ID of the reload that answers this request, or 0 when the server is
// stopping and no reload will run.
func (s *supervisor) startReload() int {
	if s.stopping {
		return 0
	}
	if s.recycling != nil {
		// The reload starts, with the next ID, once the recycle ends.
		s.reloadAfterRecycle = true
		s.log.Info().Msg("reload queued behind the running recycle")
		return s.reloads + 1
	}
	if s.reload != nil {
		s.reload.again = true
		s.log.Info().Msg("reload queued behind the running one")
		return s.reload.id + 1
	}
	s.reloads++
	r := &reloadState{id: s.reloads}
	for _, sl := range s.slots {
		if !sl.scaledDown {
			r.queue = append(r.queue, sl)
		}
	}
	s.reload = r
	// The spare runs the old binary: the next one starts after the reload.
	s.retireSpare()
	s.log.Info().Int("slots", len(r.queue)).Str("command", s.commandLine()).Msg("reload started")
	s.notifyHooks()
	s.reloadNext()
	return r.id
}

// reloadNext starts the replacement of the next slot, or ends the reload.
func (s *supervisor) reloadNext() {
	r := s.reload
	for len(r.queue) > 0 {
		sl := r.queue[0]
		r.queue = r.queue[1:]
		if sl.scaledDown || sl.current == nil {
			// A slot waiting for its restart starts from the new binary
			// anyway.
			continue
		}
		w, err := s.spawn(sl)
		if err != nil {
			s.lastError = err.Error()
			s.reloadAborted(sl, err.Error())
			return
		}
		sl.next = w
		return
	}
	s.log.Info().Int("workers", s.onlineCount()).Msg("reload finished")
	s.endReload("")
}

// endReload records how the running reload ended (failure is empty when it
// finished) and starts the one queued behind it.
func (s *supervisor) endReload(failure string) {
	r := s.reload
	s.reload = nil
	s.lastReload = &ReloadResult{ID: r.id, Result: ReloadFinished, At: s.now()}
	if failure != "" {
		s.lastReload.Result, s.lastReload.Error = ReloadFailed, failure
	}
	s.notifyHooks()
	if r.again {
		s.startReload()
	}
}

// reloadStepDone hands sl over to its new worker w, now online, and asks
// the old one to drain.
func (s *supervisor) reloadStepDone(w *worker) {
	sl := w.slot
	sl.next = nil
	old := sl.current
	sl.current = w
	if old != nil {
		reason := reasonReloaded
		if old.recycle != "" {
			reason = reasonRecycled + old.recycle
		}
		s.stopWorker(old, reason)
	}
	switch {
	case s.recycling == sl:
		s.recycleDone()
	case s.reload != nil:
		s.reloadNext()
	}
}

// reloadFailed ends the reload after sl's new worker w exited before it
// came online.
func (s *supervisor) reloadFailed(sl *slot, w *worker) {
	reason := s.startFailure(w)
	if sl.current == nil && !s.stopping && !sl.scaledDown && sl.restartAt.IsZero() {
		// The old worker died while its replacement was starting.
		s.scheduleRestart(sl, s.policy.Exited(&sl.history, 0))
	}
	s.reloadAborted(sl, reason)
}

func (s *supervisor) reloadAborted(sl *slot, reason string) {
	s.log.Error().Int("slot", sl.index).Str("reason", reason).
		Msg("reload failed: the old workers keep serving")
	s.endReload(reason)
}
