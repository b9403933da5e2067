// Package procfs reads the few Linux /proc files spread needs: a process's
// stat and io, and the kernel's TCP socket tables. It is the one parser of
// each, for the supervisor's status and hang detector, reuseport's port
// check and the tests.
package procfs

import (
	"bytes"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// Stat is what spread reads of /proc/PID/stat.
type Stat struct {
	// State is the process state letter: R, S, D, T, t, Z, ...
	State byte
	// PPid is the parent's pid.
	PPid int
	// UTime and STime are the CPU time spent in user and kernel mode, in
	// clock ticks (ClockTicks per second).
	UTime, STime uint64
	// RSSPages is the resident set size in pages.
	RSSPages uint64
	// Threads is the number of threads in the process.
	Threads int
}

// ClockTicks is USER_HZ, the unit of /proc's CPU times; 100 on every Linux
// architecture Go supports.
const ClockTicks = 100

// CPUSeconds is the CPU time spent, user and system.
func (s Stat) CPUSeconds() float64 { return float64(s.UTime+s.STime) / ClockTicks }

// RSSBytes is the resident set size in bytes.
func (s Stat) RSSBytes() uint64 { return s.RSSPages * uint64(os.Getpagesize()) }

// Zombie reports whether the process has exited and waits to be reaped.
// State Z alone does not say so: it is the state of the main thread, which
// is a zombie too while the process goes on in other threads, as it does
// for the moment another thread spends in execve. An exited process has
// one thread left, its main one.
func (s Stat) Zombie() bool { return s.State == 'Z' && s.Threads <= 1 }

// ReadStat reads /proc/PID/stat.
func ReadStat(pid int) (Stat, error) {
	return readStat("/proc/" + strconv.Itoa(pid) + "/stat")
}

// ReadTaskStat reads /proc/PID/task/TID/stat, the stat of one thread.
func ReadTaskStat(pid, tid int) (Stat, error) {
	return readStat("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(tid) + "/stat")
}

func readStat(path string) (Stat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Stat{}, err
	}
	st, err := ParseStat(b)
	if err != nil {
		return Stat{}, fmt.Errorf("%s: %w", path, err)
	}
	return st, nil
}

// ParseStat parses the text of a /proc/PID/stat file.
func ParseStat(b []byte) (Stat, error) {
	// Field 2, the command, is in parentheses and may hold spaces and
	// parentheses: count fields from the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Stat{}, fmt.Errorf("no command field in %q", b)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state), f[1] field 4 (ppid); utime is field 14,
	// stime 15, num_threads 20, rss 24.
	if len(f) < 22 || len(f[0]) != 1 {
		return Stat{}, fmt.Errorf("short stat %q", b)
	}
	var st Stat
	st.State = f[0][0]
	var err error
	if st.PPid, err = strconv.Atoi(string(f[1])); err != nil {
		return Stat{}, fmt.Errorf("bad ppid %q", f[1])
	}
	st.UTime, _ = strconv.ParseUint(string(f[11]), 10, 64)
	st.STime, _ = strconv.ParseUint(string(f[12]), 10, 64)
	st.Threads, _ = strconv.Atoi(string(f[17]))
	st.RSSPages, _ = strconv.ParseUint(string(f[21]), 10, 64)
	return st, nil
}

// ReadChars is the bytes pid has read so far through read(2) and the like
// (rchar in /proc/PID/io, sockets included). Steering asks 50 times a
// second per worker with a queue: the file, about 130 bytes with rchar
// on its first line, is read in one call into a buffer on the stack.
func ReadChars(pid int) (int64, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/io"
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var buf [256]byte
	n, err := unix.Read(fd, buf[:])
	unix.Close(fd)
	if err != nil {
		return 0, &os.PathError{Op: "read", Path: path, Err: err}
	}
	rest := buf[:max(n, 0)]
	for len(rest) > 0 {
		var line []byte
		line, rest, _ = bytes.Cut(rest, []byte("\n"))
		if v, ok := bytes.CutPrefix(line, []byte("rchar: ")); ok {
			return strconv.ParseInt(string(v), 10, 64)
		}
	}
	return 0, fmt.Errorf("no rchar in /proc/%d/io", pid)
}

// ReadArg0 is pid's argv[0] as /proc/PID/cmdline has it now: the name ps
// shows, which spread sets for its workers (a spare renames itself).
func ReadArg0(pid int) (string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return "", err
	}
	arg0, _, _ := bytes.Cut(b, []byte{0})
	return string(arg0), nil
}
