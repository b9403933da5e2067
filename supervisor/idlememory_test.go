package supervisor

import (
	"os"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestIdleReleaseOncePerQuietSpellAfterLoad(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	busy := func(n uint64, open int64) Counts { return Counts{Status: [5]uint64{1: n}, Open: open} }
	var r idleRelease
	steps := []struct {
		what string
		c    Counts
		now  time.Time
		want bool
	}{
		{"quiet from the start: nothing was taken", busy(0, 0), at(0), false},
		{"still quiet, never active", busy(0, 0), at(5 * time.Second), false},
		{"requests answered", busy(10, 2), at(6 * time.Second), false},
		{"no new request but connections open", busy(10, 2), at(8 * time.Second), false},
		{"connections closed: the quiet spell begins", busy(10, 0), at(9 * time.Second), false},
		{"quiet for less than idleQuiet", busy(10, 0), at(9*time.Second + idleQuiet/2), false},
		{"quiet for idleQuiet: release", busy(10, 0), at(9*time.Second + idleQuiet), true},
		{"still quiet: released already", busy(10, 0), at(20 * time.Second), false},
		{"load again", busy(11, 0), at(21 * time.Second), false},
		{"quiet spell begins", busy(11, 0), at(22 * time.Second), false},
		{"quiet long enough: release again", busy(11, 0), at(22*time.Second + idleQuiet), true},
	}
	for _, s := range steps {
		if got := r.observe(s.c, s.now); got != s.want {
			t.Fatalf("%s: observe = %v, want %v", s.what, got, s.want)
		}
	}
}

func TestLeanRuntimeSetsOneProcUnlessTheUserChose(t *testing.T) {
	procs, gc := runtime.GOMAXPROCS(0), debug.SetGCPercent(100)
	t.Cleanup(func() {
		runtime.GOMAXPROCS(procs)
		debug.SetGCPercent(gc)
	})
	t.Setenv("GOMAXPROCS", "2")
	t.Setenv("GOGC", "100")
	runtime.GOMAXPROCS(2)
	leanRuntime()
	if got := runtime.GOMAXPROCS(0); got != 2 {
		t.Errorf("with GOMAXPROCS=2 in the environment, GOMAXPROCS = %d after leanRuntime, want 2", got)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC=100 in the environment, GOGC = %d after leanRuntime, want 100", got)
	}

	os.Unsetenv("GOMAXPROCS")
	os.Unsetenv("GOGC")
	leanRuntime()
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("GOMAXPROCS = %d after leanRuntime, want 1", got)
	}
	if got := debug.SetGCPercent(100); got != supervisorGOGC {
		t.Errorf("GOGC = %d after leanRuntime, want %d", got, supervisorGOGC)
	}
}
