package e2e

import (
	"bytes"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/spreadtest"
)

// godebugOf reads the GODEBUG a running process was started with ("" when
// it has none) from /proc/PID/environ.
func godebugOf(t *testing.T, pid int) string {
	t.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range bytes.Split(raw, []byte{0}) {
		if v, ok := strings.CutPrefix(string(kv), "GODEBUG="); ok {
			return v
		}
	}
	return ""
}

// By default every built-in worker, the spare included, starts with the
// quiet sysmon's schedtrace added to the GODEBUG it inherits; the
// supervisor itself runs without it.
func TestBuiltInWorkersStartWithAQuietSysmon(t *testing.T) {
	s := spreadtest.StartEnv(t, []string{"GODEBUG=madvdontneed=1"}, "--workers", "2")
	pids := s.WaitOnline(2, 10*time.Second)
	pids = append(pids, waitSpare(t, s))
	for _, pid := range pids {
		if got, want := godebugOf(t, pid), "madvdontneed=1,schedtrace=2147483647"; got != want {
			t.Errorf("worker %d has GODEBUG %q, want %q", pid, got, want)
		}
	}
	if got := godebugOf(t, s.Pid()); got != "madvdontneed=1" {
		t.Errorf("the supervisor has GODEBUG %q, want the one it was given", got)
	}
	if r, err := s.Get("/"); err != nil || r.Status != 200 {
		t.Fatalf("GET / with a quiet sysmon: %+v, %v", r, err)
	}
}

// --quiet-sysmon=false leaves the workers' GODEBUG as they inherit it,
// and a schedtrace the user set wins over the quiet sysmon's. (Each server
// is given its GODEBUG: make test runs with one of its own.)
func TestQuietSysmonOffOrOverriddenLeavesGODEBUGAlone(t *testing.T) {
	off := spreadtest.StartEnv(t, []string{"GODEBUG=madvdontneed=1"}, "--workers", "1", "--quiet-sysmon=false")
	if got := godebugOf(t, off.WaitOnline(1, 10*time.Second)[0]); got != "madvdontneed=1" {
		t.Errorf("with --quiet-sysmon=false the worker has GODEBUG %q, want the inherited madvdontneed=1", got)
	}
	mine := spreadtest.StartEnv(t, []string{"GODEBUG=schedtrace=0"}, "--workers", "1")
	if got := godebugOf(t, mine.WaitOnline(1, 10*time.Second)[0]); got != "schedtrace=0" {
		t.Errorf("with the user's schedtrace=0 the worker has GODEBUG %q", got)
	}
}

// A command of the user's (exec mode) is not a Go program of ours: its
// GODEBUG is the one it inherits.
func TestExecWorkersGetNoQuietSysmon(t *testing.T) {
	s := spreadtest.StartEnv(t, []string{"GODEBUG=madvdontneed=1"}, execArgs("--workers", "1", "--ready-delay", "300ms")...)
	if got := godebugOf(t, s.WaitOnline(1, 10*time.Second)[0]); got != "madvdontneed=1" {
		t.Errorf("the exec worker has GODEBUG %q, want the inherited madvdontneed=1", got)
	}
}
