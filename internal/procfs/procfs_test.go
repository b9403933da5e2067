package procfs

import (
	"os"
	"runtime"
	"testing"
)

func TestParseStatCountsFieldsFromTheLastParenthesis(t *testing.T) {
	// A command may hold spaces and parentheses ("(a) b) c").
	const line = "4242 ((a) b) c) S 17 4242 4242 0 -1 4194560 500 0 0 0 250 50 0 0 20 0 3 0 1000 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n"
	st, err := ParseStat([]byte(line))
	if err != nil {
		t.Fatal(err)
	}
	want := Stat{State: 'S', PPid: 17, UTime: 250, STime: 50, RSSPages: 2048, Threads: 3}
	if st != want {
		t.Fatalf("parsed %+v, want %+v", st, want)
	}
	if got := st.CPUSeconds(); got != 3 {
		t.Errorf("CPU %.2fs, want 3s (300 ticks)", got)
	}
	if _, err := ParseStat([]byte("4242 (cut")); err == nil {
		t.Error("a stat without its command's end parsed")
	}
}

func TestAZombieMainThreadWithLiveThreadsIsNoExitedProcess(t *testing.T) {
	// Both read from a real machine: a supervisor whose non-main thread
	// was in execve, and an exited child not yet reaped.
	const execing = "27116 (spread) Z 26594 26591 5269 0 -1 4228364 908 0 0 0 2 2 0 0 20 0 2 0 4049559 0 0 18446744073709551615 0 0 0 0 0 0 1002056192 2 2143420157 0 0 0 17 1 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
	const exited = "1518 (python3) Z 1477 1475 5269 0 -1 4227148 229 0 0 0 0 0 0 0 20 0 1 0 4057873 0 0 18446744073709551615 0 0 0 0 0 0 0 16781312 2 1 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
	for _, c := range []struct {
		line   string
		zombie bool
	}{{execing, false}, {exited, true}} {
		st, err := ParseStat([]byte(c.line))
		if err != nil {
			t.Fatal(err)
		}
		if st.Zombie() != c.zombie {
			t.Errorf("%+v: Zombie() = %v, want %v", st, st.Zombie(), c.zombie)
		}
	}
}

func TestOwnStatAndReadChars(t *testing.T) {
	st, err := ReadStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if st.PPid != os.Getppid() || st.Zombie() || st.RSSBytes() == 0 {
		t.Fatalf("own stat %+v: want ppid %d, alive, resident", st, os.Getppid())
	}
	if _, err := ReadTaskStat(os.Getpid(), os.Getpid()); err != nil {
		t.Fatalf("main thread's stat: %v", err)
	}
	before, err := ReadChars(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.ReadFile("/proc/self/stat"); err != nil {
		t.Fatal(err)
	}
	if after, _ := ReadChars(os.Getpid()); after <= before {
		t.Fatalf("rchar %d after a read, %d before", after, before)
	}
	if _, err := ReadStat(1 << 23); err == nil {
		t.Error("a pid above pid_max has a stat")
	}
}

// TestReadCharsAllocatesNoBuffer: steering reads a worker's rchar 50 times
// a second while its queue is not empty; a 4 KB buffer per read made most
// of the supervisor's garbage under load.
func TestReadCharsAllocatesNoBuffer(t *testing.T) {
	const reads = 200
	if _, err := ReadChars(os.Getpid()); err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range reads {
		if _, err := ReadChars(os.Getpid()); err != nil {
			t.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	limit := uint64(128)
	if raceEnabled {
		limit += 256 // the buffer itself
	}
	if per := (after.TotalAlloc - before.TotalAlloc) / reads; per > limit {
		t.Errorf("ReadChars allocated %d bytes per read, want at most %d", per, limit)
	}
}
