package supervisor

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Every worker exit is explained with one reason from a fixed set, the
// label of spread_worker_exits_total, and a sentence for people (Exit.Detail).
// The reasons spread causes are the reason constants in process.go plus
// these:
const (
	// reasonExited: the worker exited by itself; Exit.Code says how.
	reasonExited = "exited"
	// reasonCrashed: a signal spread did not send ended the worker.
	reasonCrashed = "crashed"
	// reasonOOM: the kernel's OOM killer ended the worker.
	reasonOOM = "killed by the OOM killer"
	// reasonFailedStart: the worker never came online.
	reasonFailedStart = "failed to start"
	// reasonRecycled is followed by the limit the worker passed.
	reasonRecycled = "recycled: "
)

// explainExit describes how w ended, as logs, status and metrics show it.
func (s *supervisor) explainExit(w *worker, code int, sig string) *Exit {
	e := &Exit{Pid: w.pid, Code: code, Signal: sig, At: s.now(), Uptime: s.now().Sub(w.started).Seconds()}
	how := describeExit(code, sig)
	switch {
	case strings.HasPrefix(w.reason, reasonRecycled):
		e.Reason, e.Detail = w.reason, "stopped by spread: recycled at its "+strings.TrimPrefix(w.reason, reasonRecycled)+" limit ("+how+")"
	case w.reason == reasonHung:
		e.Reason, e.Detail = reasonHung, "killed as hung ("+how+")"
	case w.reason == reasonStartTimeout:
		e.Reason, e.Detail = reasonFailedStart, w.failure
	case w.reason != "":
		e.Reason, e.Detail = w.reason, "stopped by spread: "+w.reason+" ("+how+")"
	case w.failure != "":
		e.Reason, e.Detail = reasonFailedStart, w.failure
	case sig == "SIGKILL" && w.state != stateKilled && s.oom.claim():
		e.Reason, e.Detail = reasonOOM, "killed by the OOM killer (the oom_kill count of "+s.oom.source()+" rose)"
	case !w.cameOnline():
		e.Reason, e.Detail = reasonFailedStart, how+" before coming online"
	case sig == "SIGKILL" && w.state != stateKilled:
		e.Reason, e.Detail = reasonCrashed, "killed by SIGKILL from outside spread: probably out of memory, or an operator"
	case sig != "":
		e.Reason, e.Detail = reasonCrashed, "crashed: killed by "+sig
	default:
		e.Reason, e.Detail = reasonExited, "exited with code "+strconv.Itoa(code)
	}
	return e
}

// recentExitsKept is how many exits a slot's status lists.
const recentExitsKept = 5

// oomCounter tells a SIGKILL from the kernel's OOM killer apart from one
// sent by someone else: the memory cgroup counts the processes its OOM
// killer ended (cgroup v2 memory.events, v1 memory.oom_control, both
// "oom_kill", hierarchical), and each rise of that count is claimed by one
// worker that died of SIGKILL. Without a memory cgroup, /proc/vmstat's
// system-wide count stands in.
type oomCounter struct {
	path string // "" when no counter can be read
	seen int64  // the count already accounted for
}

func newOOMCounter() oomCounter {
	for _, p := range oomCounterFiles() {
		if n, ok := readCount(p, "oom_kill"); ok {
			return oomCounter{path: p, seen: n}
		}
	}
	return oomCounter{}
}

// claim reports whether the count rose past what was accounted for, and
// accounts for one kill.
func (o *oomCounter) claim() bool {
	if o.path == "" {
		return false
	}
	n, ok := readCount(o.path, "oom_kill")
	if !ok || n <= o.seen {
		return false
	}
	o.seen++
	return true
}

// source names the counter for the log.
func (o *oomCounter) source() string { return o.path }

// oomCounterFiles lists the candidate counters, the most precise first:
// this process's memory cgroup (v2, then v1), then the system's.
func oomCounterFiles() []string {
	var files []string
	b, _ := os.ReadFile("/proc/self/cgroup")
	for _, line := range strings.Split(string(b), "\n") {
		// "0::/path" (v2) or "4:memory:/path" (v1).
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			files = append(files, filepath.Join("/sys/fs/cgroup", parts[2], "memory.events"))
		case strings.Contains(","+parts[1]+",", ",memory,"):
			files = append(files, filepath.Join("/sys/fs/cgroup/memory", parts[2], "memory.oom_control"))
		}
	}
	return append(files, "/proc/vmstat")
}

// readCount reads the "key N" line of a kernel counter file.
func readCount(path, key string) (int64, bool) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	prefix := []byte(key + " ")
	for sc.Scan() {
		if v, ok := bytes.CutPrefix(sc.Bytes(), prefix); ok {
			n, err := strconv.ParseInt(string(bytes.TrimSpace(v)), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
