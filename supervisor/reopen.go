package supervisor

import "syscall"

// reopenLogs passes a SIGUSR1 on to every built-in worker, which reopens its
// access log: logrotate renames the file, then signals the supervisor, as
// it does nginx's master. A worker not yet online either reopens or opens
// the file after the rename (see prefork's openAccessLog).
//
// Workers that run a command after -- are not sent it: what SIGUSR1 means
// is that program's choice (Node starts its inspector on it), and its
// default action is to terminate.
func (s *supervisor) reopenLogs() {
	n := 0
	for _, w := range s.workers {
		if !w.exec {
			w.signal(syscall.SIGUSR1)
			n++
		}
	}
	s.log.Info().Str("signal", "SIGUSR1").Int("workers", n).Msg("signal passed to workers")
}
