package supervisor

import (
	"errors"
	"fmt"
)

// A forced stop (SIGQUIT, a second SIGINT, a failing server) SIGKILLs
// every worker at once, so whatever they were serving is cut. The exit
// status says so: a stop that may have cut a client's request is not a
// clean end, and a script or service manager must be able to tell.

// forcedStopError is the error a forced stop for why ends the server
// with: nil when no worker held a client connection that spread could
// see. It is read before the SIGKILLs, from the scoreboard.
func (s *supervisor) forcedStopError(why string) error {
	if s.stopping {
		return errors.New("forced stop: workers were killed before their drain ended")
	}
	open, known := s.openConnections()
	switch {
	case !known:
		return fmt.Errorf("%s: fast stop killed workers running %s, which spread cannot count: requests in flight may have been cut", why, s.cfg.Exec[0])
	case open == 1:
		return fmt.Errorf("%s: fast stop cut 1 open client connection (spread stop or SIGTERM drains them)", why)
	case open > 1:
		return fmt.Errorf("%s: fast stop cut %d open client connections (spread stop or SIGTERM drains them)", why, open)
	}
	return nil
}

// openConnections sums the client connections open on the live workers.
// known is false when a live worker runs a command of the user's, whose
// connections spread does not count.
func (s *supervisor) openConnections() (open int64, known bool) {
	known = true
	for _, w := range s.workers {
		if w.exec {
			known = false
			continue
		}
		open += s.board.read(w.board).Open
	}
	return open, known
}
