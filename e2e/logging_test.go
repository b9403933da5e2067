package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spreadhttp/spread/internal/spreadtest"
	"github.com/spreadhttp/spread/supervisor"
)

// cliWithin runs `spread command --addr <server> args...` and fails the
// test if it does not end within d: a blocked supervisor shows as a CLI
// that hangs.
func cliWithin(t *testing.T, s *spreadtest.Server, d time.Duration, command string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	cmd := exec.CommandContext(ctx, spreadtest.Binary(t), append([]string{command, "--addr", s.Addr}, args...)...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("spread %s %v did not answer within %s", command, args, d)
	}
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run spread %s: %v", command, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// statusWithin is `spread status --json`, which must answer within d.
func statusWithin(t *testing.T, s *spreadtest.Server, d time.Duration) (supervisor.Status, bool) {
	t.Helper()
	out, code := cliWithin(t, s, d, "status", "--json")
	var st supervisor.Status
	if code != 0 || json.Unmarshal([]byte(out), &st) != nil {
		return st, false
	}
	return st, true
}

// waitReloaded waits until every one of n workers is online and none of
// them is in before, which is what a finished reload leaves.
func waitReloaded(t *testing.T, s *spreadtest.Server, before []int, n int, d time.Duration) []int {
	t.Helper()
	var pids []int
	spreadtest.Eventually(t, d, "the reload to replace every worker", func() bool {
		if s.Exited() {
			t.Fatalf("the supervisor died: %v", s.Cmd.ProcessState)
		}
		st, ok := statusWithin(t, s, 5*time.Second)
		if !ok || st.Reloading || st.Online != n {
			return false
		}
		pids = pids[:0]
		for _, w := range st.Workers {
			if contains(before, w.Pid) || w.State != "online" {
				return false
			}
			pids = append(pids, w.Pid)
		}
		return len(pids) == n
	})
	return pids
}

func TestSupervisorOutlivesTheReaderOfItsLog(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	s := spreadtest.StartLoggingTo(t, w, "--workers", "2")
	w.Close()
	// Read the log until the server is ready, like `| head` would, then
	// go away.
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"message":"server ready"`) {
				ready <- true
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			t.Fatal("the log ended before the server was ready")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no 'server ready' in the log within 15s")
	}
	r.Close()
	before := s.Workers()
	if len(before) != 2 {
		t.Fatalf("workers %v, want 2", before)
	}
	// A reload makes the supervisor log, now into a pipe nobody reads.
	s.Signal(syscall.SIGHUP)
	waitReloaded(t, s, before, 2, 20*time.Second)
	if _, ok := statusWithin(t, s, 5*time.Second); !ok {
		t.Fatal("spread status failed after the log reader went away")
	}
	for range 10 {
		if r, err := s.Get("/"); err != nil || r.Status != 200 {
			t.Fatalf("GET / after the log reader went away: %v %+v", err, r)
		}
	}
}

func TestStalledLogReaderBlocksNeitherStatusNorReload(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// The smallest pipe the kernel allows, which a few reloads fill.
	size, err := unix.FcntlInt(w.Fd(), unix.F_SETPIPE_SZ, 4096)
	if err != nil {
		t.Fatal(err)
	}
	s := spreadtest.StartLoggingTo(t, w, "--workers", "2")
	w.Close()
	spreadtest.Eventually(t, 15*time.Second, "2 workers online", func() bool {
		st, ok := statusWithin(t, s, 5*time.Second)
		return ok && st.Online == 2 && !st.Reloading
	})
	for range 6 {
		before := s.Workers()
		if out, code := cliWithin(t, s, 20*time.Second, "reload"); code != 0 {
			t.Fatalf("spread reload: exit %d: %s", code, out)
		}
		waitReloaded(t, s, before, 2, 20*time.Second)
	}
	queued, err := unix.IoctlGetInt(int(r.Fd()), unix.SIOCINQ) // FIONREAD: bytes in the pipe
	if err != nil {
		t.Fatal(err)
	}
	if queued < size-1024 {
		t.Fatalf("the log pipe holds %d of %d bytes: it never filled, so nothing was stalled", queued, size)
	}
	for range 10 {
		if r, err := s.Get("/"); err != nil || r.Status != 200 {
			t.Fatalf("GET / with a stalled log reader: %v %+v", err, r)
		}
	}
}
