package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/spreadtest"
)

// exitReasons returns the reasons of the log's "worker exited" events.
func exitReasons(s *spreadtest.Server) []string {
	var out []string
	for _, ev := range s.Log().Events("worker exited") {
		r, _ := ev["reason"].(string)
		out = append(out, r)
	}
	return out
}

func countOf(xs []string, x string) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

func TestLeakingExecWorkerIsRecycledAtItsMemoryLimitLosingNothing(t *testing.T) {
	s := spreadtest.Start(t, execArgs("--workers", "2", "--max-memory", "80M", "--ready-delay", "300ms")...)
	s.WaitOnline(2, 10*time.Second)
	l := &spreadtest.Load{Addr: s.Addr, Conns: 8, MaxRequests: 200_000, MaxDuration: 60 * time.Second}
	runLoad(t, l, func() {
		// Each leak lands on one worker; two of them put at least one
		// worker past 80 MiB.
		for range 2 {
			if r, err := s.Get("/leak?mb=90"); err != nil || r.Status != 200 {
				t.Fatalf("leak request: %v %v", r.Status, err)
			}
		}
		waitEvents(t, s, "worker recycling", 1, 10*time.Second)
		spreadtest.Eventually(t, 15*time.Second, "a worker recycled for its memory", func() bool {
			return countOf(exitReasons(s), "recycled: max-memory") >= 1
		})
		// Enough load after the recycle to see any loss it caused.
		spreadtest.Eventually(t, 30*time.Second, "300 requests answered", func() bool {
			ok, _ := l.Done()
			return ok >= 300
		})
	})
	ev := s.Log().Events("worker recycling")[0]
	if ev["limit"] != "max-memory" || !strings.Contains(fmt.Sprint(ev["measured"]), "limit 80.0MiB") {
		t.Fatalf("recycling event %v", ev)
	}
	s.WaitOnline(2, 10*time.Second)
	st := statusOf(t, s)
	if st.Exits["recycled: max-memory"] < 1 {
		t.Fatalf("status exits %v lack the recycle", st.Exits)
	}
}

func TestBuiltInWorkersRecycleAtMaxRequestsOneSlotAtATime(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "2", "--max-requests", "300", "--max-requests-jitter", "100")
	s.WaitOnline(2, 10*time.Second)
	l := &spreadtest.Load{Addr: s.Addr, Conns: 16, MaxRequests: 500_000, MaxDuration: 60 * time.Second}
	runLoad(t, l, func() {
		spreadtest.Eventually(t, 30*time.Second, "three recycles", func() bool {
			return countOf(exitReasons(s), "recycled: max-requests") >= 3
		})
	})
	// One slot at a time: after a recycle starts, the next one waits for
	// the replacement of the first to come online.
	inFlight := 0
	for _, ev := range s.Log().Events("") {
		switch ev["message"] {
		case "worker recycling":
			inFlight++
			if inFlight > 1 {
				t.Fatalf("two recycles at once:\n%s", s.Log())
			}
		case "worker online":
			inFlight = 0
		}
	}
}

func TestCrashLoopingSlotShowsItsBackoffAndWarnsOnce(t *testing.T) {
	s := spreadtest.StartEnv(t, []string{"CRASH_SLOT=1"},
		execArgs("--workers", "2", "--ready-delay", "100ms", "--min-uptime", "10s", "--max-backoff", "3s")...)
	waitEvents(t, s, "slot in a crash loop: restarting with backoff; its further exits are logged at info", 1, 15*time.Second)
	spreadtest.Eventually(t, 15*time.Second, "5 exits of slot 1", func() bool {
		return countOf(exitReasons(s), "exited") >= 5
	})
	var row *struct{ at *time.Time }
	spreadtest.Eventually(t, 10*time.Second, "slot 1 in backoff in the status", func() bool {
		for _, w := range statusOf(t, s).Workers {
			if w.Slot == 1 && w.RestartAt != nil && len(w.RecentExits) >= 3 {
				row = &struct{ at *time.Time }{w.RestartAt}
				if d := w.RecentExits[len(w.RecentExits)-1].Detail; d != "exited with code 3" {
					t.Fatalf("last exit detail %q", d)
				}
				return true
			}
		}
		return false
	})
	if row.at.Before(time.Now().Add(-time.Second)) {
		t.Fatalf("restart_at %s is in the past", row.at)
	}
	warns := 0
	for _, ev := range s.Log().Events("worker exited") {
		if ev["level"] == "warn" {
			warns++
		}
	}
	if warns > 1 {
		t.Fatalf("%d warnings for one crash loop's deaths, want 1 plus the loop warning", warns)
	}
	// The slot spends its backoff restarting and then starts its next
	// worker: the table shows "restarting in" during the former.
	var out string
	spreadtest.Eventually(t, 15*time.Second, "the status table showing the next restart", func() bool {
		out, _ = s.CLI("status")
		return strings.Contains(out, "restarting in ")
	})
}

// memoryCgroup creates a memory cgroup limited to limit bytes (cgroup v2
// where the memory controller is there, else v1) and returns the path of
// its process list; it is removed when the test ends.
func memoryCgroup(t *testing.T, limit int64) string {
	t.Helper()
	name := fmt.Sprintf("spread-test-%d", os.Getpid())
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skipf("no cgroups: %v", err)
	}
	var dir, limitFile string
	for _, line := range strings.Split(string(self), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
				dir, limitFile = filepath.Join("/sys/fs/cgroup", parts[2], name), "memory.max"
				break
			}
		}
		if strings.Contains(","+parts[1]+",", ",memory,") {
			dir, limitFile = filepath.Join("/sys/fs/cgroup/memory", parts[2], name), "memory.limit_in_bytes"
		}
	}
	if dir == "" {
		t.Skip("no memory cgroup controller on this machine")
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot create a memory cgroup: %v", err)
	}
	t.Cleanup(func() {
		// The cgroup can go once its processes are gone.
		deadline := time.Now().Add(10 * time.Second)
		for os.Remove(dir) != nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	})
	if err := os.WriteFile(filepath.Join(dir, limitFile), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
		t.Fatalf("set the cgroup's memory limit: %v", err)
	}
	return filepath.Join(dir, "cgroup.procs")
}

func TestWorkerKilledByTheOOMKillerIsReportedAsSuch(t *testing.T) {
	procs := memoryCgroup(t, 200<<20)
	// The supervisor moves itself into the cgroup before it starts, so
	// every worker is born there.
	wrapper := filepath.Join(t.TempDir(), "spread-in-cgroup")
	script := fmt.Sprintf("#!/bin/sh\necho $$ > %s && exec %s \"$@\"\n", procs, spreadtest.Binary(t))
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	s := spreadtest.StartBinary(t, wrapper, execArgs("--workers", "2", "--ready-delay", "300ms")...)
	s.WaitOnline(2, 10*time.Second)
	// 400 MiB in a 200 MiB cgroup: the OOM killer picks the leaker.
	_, _ = s.Get("/leak?mb=400")
	spreadtest.Eventually(t, 20*time.Second, "a worker killed by the OOM killer", func() bool {
		return countOf(exitReasons(s), "killed by the OOM killer") == 1
	})
	s.WaitOnline(2, 10*time.Second)
	if st := statusOf(t, s); st.Exits["killed by the OOM killer"] != 1 {
		t.Fatalf("status exits %v", st.Exits)
	}
	if out, err := exec.Command("cat", procs).Output(); err != nil || len(out) == 0 {
		t.Fatalf("the server was not in the test cgroup (%v)", err)
	}
}
