package supervisor

import (
	"math"
	"testing"
	"time"
)

func TestCPUMeterAtTheStartIsZeroNotInfinite(t *testing.T) {
	start := time.Unix(1000, 0)
	var m cpuMeter
	if got := m.sample(start, start, 0.5); got != 0 || math.IsInf(got, 0) || math.IsNaN(got) {
		t.Fatalf("a sample with no time elapsed: %v%%, want 0", got)
	}
}
