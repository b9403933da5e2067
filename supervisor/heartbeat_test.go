package supervisor

import (
	"testing"
	"time"
)

// TestHeartbeatIsAQuarterOfTheTimeoutWithinBounds checks the beat interval
// workers are given: a quarter of --worker-timeout, so that a timeout sees
// several missed beats, but never under 50ms (a beat storm) nor over a
// second, and a second when there is no timeout at all.
func TestHeartbeatIsAQuarterOfTheTimeoutWithinBounds(t *testing.T) {
	for _, tc := range []struct {
		timeout, want time.Duration
	}{
		{0, time.Second},
		{Off, time.Second},
		{-time.Second, time.Second},
		{400 * time.Millisecond, 100 * time.Millisecond},
		{2 * time.Second, 500 * time.Millisecond},
		{100 * time.Millisecond, 50 * time.Millisecond},
		{time.Millisecond, 50 * time.Millisecond},
		{DefaultWorkerTimeout, time.Second},
	} {
		c := Config{WorkerTimeout: tc.timeout}
		if got := c.heartbeat(); got != tc.want {
			t.Errorf("heartbeat with worker timeout %s = %s, want %s", tc.timeout, got, tc.want)
		}
	}
}
