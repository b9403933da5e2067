package supervisor

// A rolling restart replaces workers one slot at a time, nginx's way: start
// the new worker (from the binary on disk now, so a rebuilt binary is an
// upgrade), wait until it is online, and only then ask the old one to
// drain. The new worker inherits the slot's socket, so old and new accept
// from the same queue during the handover and no queued connection is
// lost. If a new worker does not come online, the reload stops there and
// the old workers keep serving.

// reloadState is a rolling restart in progress.
type reloadState struct {
	queue []*slot // slots still to replace
	again bool    // another reload was asked for meanwhile
}

// startReload begins a rolling restart, or queues one behind the running
// reload, so that a HUP sent after a rebuild is never lost.
func (s *supervisor) startReload() {
	if s.stopping {
		return
	}
	if s.recycling != nil {
		s.reloadAfterRecycle = true
		s.log.Info().Msg("reload queued behind the running recycle")
		return
	}
	if s.reload != nil {
		s.reload.again = true
		s.log.Info().Msg("reload queued behind the running one")
		return
	}
	r := &reloadState{}
	for _, sl := range s.slots {
		if !sl.retiring {
			r.queue = append(r.queue, sl)
		}
	}
	s.reload = r
	s.log.Info().Int("slots", len(r.queue)).Str("command", s.cfg.Command).Msg("reload started")
	s.changed()
	s.reloadNext()
}

// reloadNext starts the replacement of the next slot, or ends the reload.
func (s *supervisor) reloadNext() {
	r := s.reload
	for len(r.queue) > 0 {
		sl := r.queue[0]
		r.queue = r.queue[1:]
		if sl.retiring || sl.current == nil {
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
	s.reload = nil
	s.log.Info().Int("workers", s.onlineCount()).Msg("reload finished")
	s.changed()
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
		s.retire(old, reason)
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
	s.reloadAborted(sl, s.startFailure(w))
	if sl.current == nil && !s.stopping && !sl.retiring && sl.restartAt.IsZero() {
		// The old worker died while its replacement was starting.
		s.scheduleRestart(sl, s.policy.Exited(&sl.history, 0))
	}
}

func (s *supervisor) reloadAborted(sl *slot, reason string) {
	s.log.Error().Int("slot", sl.index).Str("reason", reason).
		Msg("reload failed: the old workers keep serving")
	s.reload = nil
	s.changed()
}
