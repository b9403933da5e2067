package supervisor

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// counterFile writes an oom_kill counter file in memory.events format.
func counterFile(t *testing.T, n int) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "memory.events")
	writeCounter(t, p, n)
	return p
}

func writeCounter(t *testing.T, p string, n int) {
	t.Helper()
	body := "low 0\nhigh 0\nmax 3\noom 2\noom_kill " + strconv.Itoa(n) + "\n"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestEveryExitGetsOneReasonFromTheFixedSet(t *testing.T) {
	path := counterFile(t, 4)
	s := &supervisor{now: time.Now, oom: oomCounter{path: path, seen: 4}}
	ran := time.Now() // when a worker that came online did
	cases := []struct {
		name       string
		w          worker
		code       int
		sig        string
		oomKills   int
		wantReason string
		wantDetail string
	}{
		{"clean exit", worker{onlineAt: ran}, 0, "", 4, reasonExited, "exited with code 0"},
		{"error exit", worker{onlineAt: ran}, 3, "", 4, reasonExited, "exited with code 3"},
		{"segfault", worker{onlineAt: ran}, -1, "SIGSEGV", 4, reasonCrashed, "crashed: killed by SIGSEGV"},
		{"outside SIGKILL", worker{onlineAt: ran}, -1, "SIGKILL", 4, reasonCrashed, "killed by SIGKILL from outside spread: probably out of memory, or an operator"},
		{"OOM kill", worker{onlineAt: ran}, -1, "SIGKILL", 5, reasonOOM, "killed by the OOM killer (the oom_kill count of " + path + " rose)"},
		{"spread's SIGKILL is not the OOM killer's", worker{onlineAt: ran, state: stateKilled, reason: reasonStopped}, -1, "SIGKILL", 6, reasonStopped, "stopped by spread: stopped (killed by SIGKILL)"},
		{"hung", worker{onlineAt: ran, reason: reasonHung, state: stateKilled}, -1, "SIGKILL", 6, reasonHung, "killed as hung (killed by SIGKILL)"},
		{"recycled", worker{onlineAt: ran, reason: reasonRecycled + limitMemory}, 0, "", 6, "recycled: max-memory", "stopped by spread: recycled at its max-memory limit (exit code 0)"},
		{"reloaded", worker{onlineAt: ran, reason: reasonReloaded}, 0, "", 6, reasonReloaded, "stopped by spread: reloaded (exit code 0)"},
		{"start failure", worker{failure: "bind: address in use"}, 1, "", 6, reasonFailedStart, "bind: address in use"},
		{"start timeout", worker{reason: reasonStartTimeout, failure: "not online after 10s", state: stateKilled}, -1, "SIGKILL", 6, reasonFailedStart, "not online after 10s"},
		{"died starting", worker{}, 2, "", 6, reasonFailedStart, "exit code 2 before coming online"},
	}
	for _, c := range cases {
		writeCounter(t, path, c.oomKills)
		e := s.explainExit(&c.w, c.code, c.sig)
		if e.Reason != c.wantReason || e.Detail != c.wantDetail {
			t.Errorf("%s: got %q / %q, want %q / %q", c.name, e.Reason, e.Detail, c.wantReason, c.wantDetail)
		}
	}
}

func TestEachOOMKillIsClaimedByOneWorkerOnly(t *testing.T) {
	path := counterFile(t, 0)
	o := oomCounter{path: path}
	writeCounter(t, path, 2)
	if !o.claim() || !o.claim() {
		t.Fatal("two kills were not both claimed")
	}
	if o.claim() {
		t.Fatal("a third SIGKILL claimed a kill that never happened")
	}
	if (&oomCounter{}).claim() {
		t.Fatal("no counter, yet a claim")
	}
}

func TestOOMCounterIsFoundOnThisMachine(t *testing.T) {
	o := newOOMCounter()
	if o.path == "" {
		t.Fatalf("no oom_kill counter among %v", oomCounterFiles())
	}
	t.Logf("oom_kill counter: %s", o.path)
}
