package supervisor

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// WaitScale polls the status every interval until the server runs exactly
// n workers, each online, none starting or draining: a scale to n is then
// done. It fails, naming the slot and the reason, as soon as a worker
// exits for a reason spread did not choose after since (the time the
// scale was asked for): a new slot's worker that cannot start, or one that
// crashed meanwhile. It also fails when the server stops first.
func (c *Client) WaitScale(n int, since time.Time, every time.Duration) error {
	for {
		reply, err := c.Status()
		if err != nil {
			return fmt.Errorf("waiting for %d workers: %w", n, err)
		}
		st := reply.Status
		if st.Stopping {
			return errors.New("the server is stopping: the scale did not end")
		}
		if scaled(st, n) {
			return nil
		}
		for _, w := range st.Workers {
			for _, e := range w.RecentExits {
				if e.At.After(since) && !chosenExit(e.Reason) {
					return fmt.Errorf("slot %d: %s", w.Slot, e)
				}
			}
		}
		time.Sleep(every)
	}
}

// scaled reports whether st shows n workers, all online.
func scaled(st Status, n int) bool {
	if st.Slots != n || st.Online != n || len(st.Workers) != n {
		return false
	}
	for _, w := range st.Workers {
		if w.State != "online" {
			return false
		}
	}
	return true
}

// chosenExit reports whether an exit's reason is one spread caused on
// purpose (a reload, scale-down, stop or recycle), not a failure.
func chosenExit(reason string) bool {
	switch reason {
	case reasonReloaded, reasonScaledDown, reasonStopped:
		return true
	}
	return strings.HasPrefix(reason, reasonRecycled)
}
