package e2e

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/spreadtest"
	"github.com/spreadhttp/spread/supervisor"
)

// lastReload is the last_reload of `spread status --json`, nil if none.
func lastReload(t *testing.T, s *spreadtest.Server) *supervisor.ReloadResult {
	t.Helper()
	out, code := cliWithin(t, s, 5*time.Second, "status", "--json")
	var st supervisor.StatusReply
	if code != 0 {
		t.Fatalf("spread status --json: exit %d: %s", code, out)
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, out)
	}
	return st.LastReload
}

func TestReloadCLIFailsWithTheReasonWhenTheNewBinaryCannotStart(t *testing.T) {
	bin := upgradeableBinary(t)
	s := spreadtest.StartBinary(t, bin, "--workers", "2")
	before := s.WaitOnline(2, 10*time.Second)
	replaceFile(t, bin, []byte("#!/bin/sh\necho 'broken build' >&2\nexit 3\n"))

	out, code := cliWithin(t, s, 30*time.Second, "reload")
	if code == 0 {
		t.Fatalf("spread reload exited 0 although the new binary cannot start:\n%s", out)
	}
	assertOneErrorLine(t, out, "exit code 3")
	r := lastReload(t, s)
	if r == nil || r.Result != supervisor.ReloadFailed || !strings.Contains(r.Error, "exit code 3") {
		t.Fatalf("status last_reload = %+v, want failed with the reason", r)
	}
	if after := s.Workers(); !slices.Equal(after, before) {
		t.Fatalf("workers changed from %v to %v after a failed reload", before, after)
	}
}

func TestReloadQueuedBehindAFailingOneRuns(t *testing.T) {
	bin := upgradeableBinary(t)
	good, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	s := spreadtest.StartBinary(t, bin, "--workers", "2", "--start-timeout", "3s")
	before := s.WaitOnline(2, 10*time.Second)

	// A build that hangs: its worker never comes online, and the reload
	// fails at --start-timeout.
	replaceFile(t, bin, []byte("#!/bin/sh\nexec sleep 60\n"))
	if out, code := cliWithin(t, s, 10*time.Second, "reload", "--wait=false"); code != 0 {
		t.Fatalf("spread reload --wait=false: exit %d: %s", code, out)
	}
	// The fix is installed, and reloaded, while the bad reload still runs.
	replaceFile(t, bin, good)
	out, code := cliWithin(t, s, 30*time.Second, "reload")
	if len(s.Log().Events("reload queued behind the running one")) != 1 ||
		len(s.Log().Events("reload failed: the old workers keep serving")) != 1 {
		t.Fatal("the second reload was not queued behind a failing one: this test proved nothing")
	}
	if code != 0 || !strings.Contains(out, "reload finished") {
		t.Fatalf("the queued reload: exit %d: %s", code, out)
	}
	after := s.WaitOnline(2, 10*time.Second)
	for _, p := range after {
		if contains(before, p) {
			t.Fatalf("worker %d was not replaced by the queued reload (before %v, after %v)", p, before, after)
		}
	}
	if r := lastReload(t, s); r == nil || r.ID != 2 || r.Result != supervisor.ReloadFinished {
		t.Fatalf("status last_reload = %+v, want reload 2 finished", r)
	}
}
