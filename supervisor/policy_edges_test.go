package supervisor

import (
	"testing"
	"time"
)

func TestDefaultJitterIsZeroBelowFiveAndVariesAbove(t *testing.T) {
	var p Policy
	for d := time.Duration(0); d < 5; d++ {
		if j := p.jitter(d); j != 0 {
			t.Fatalf("jitter(%d) = %d, want 0", d, j)
		}
	}
	varied := false
	for range 20 {
		j := p.jitter(time.Second)
		if j < 0 || j >= 200*time.Millisecond {
			t.Fatalf("jitter(1s) = %s, want within [0, 200ms)", j)
		}
		varied = varied || j > 0
	}
	if !varied {
		t.Fatal("20 draws of jitter(1s) were all 0")
	}
}
