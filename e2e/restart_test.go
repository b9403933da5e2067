package e2e

import (
	"syscall"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/spreadtest"
)

// Every worker here dies young (--min-uptime 1h), so without the rule the
// fifth replacement would wait out a backoff of 1.6 s or more. The bar is
// the rule itself, read from the log (every replacement immediate), not a
// time, which a loaded machine would make flaky.
func TestYoungDeathWithConnectionsQueuedIsReplacedAtOnce(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "1", "--min-uptime", "1h", "--max-backoff", "30s", "--steer", "off")
	pid := s.WaitOnline(1, 10*time.Second)[0]
	for round := 1; round <= 5; round++ {
		spreadtest.StopProcess(t, pid)
		const n = 4
		statuses := queuedRequests(t, s.Addr, n)
		spreadtest.Eventually(t, 5*time.Second, "the requests queued", func() bool {
			_, queued := spreadtest.PortSockets(t, s.Addr)
			return queued == n
		})
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if ok := collect(t, statuses, n, 10*time.Second); ok != n {
			t.Fatalf("round %d: %d of %d queued requests answered", round, ok, n)
		}
		pid = s.WaitOnline(1, 5*time.Second)[0]
	}
	if got := len(s.Log().Events("connections queued: replacing at once")); got != 5 {
		t.Fatalf("%d immediate replacements logged, want 5", got)
	}
}
