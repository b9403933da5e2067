package supervisor

// openHooks opens the optional parts the config asks for: the pidfile
// check, the control socket, and systemd notification (a no-op unless
// $NOTIFY_SOCKET is set).
func (s *supervisor) openHooks() error {
	if s.cfg.PIDFile != "" {
		predecessor := 0
		if s.inherited != nil {
			predecessor = s.inherited.OldPid
		}
		p, err := openPIDFile(s.cfg.PIDFile, predecessor)
		if err != nil {
			return err
		}
		s.hooks = append(s.hooks, p)
	}
	if s.cfg.ControlSocket != "" {
		c, err := s.openControl(s.cfg.ControlSocket, MetricsAddr(s.cfg.MetricsAddr))
		if err != nil {
			s.closeHooks()
			return err
		}
		s.hooks = append(s.hooks, c)
	}
	s.hooks = append(s.hooks, newNotifier(s), &s.drain, &s.flush)
	return nil
}

func (s *supervisor) closeHooks() {
	for i := len(s.hooks) - 1; i >= 0; i-- {
		s.hooks[i].close()
	}
	s.hooks = nil
}
