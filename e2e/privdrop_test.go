package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/spreadtest"
)

// procIDs reads the Uid and Gid lines of /proc/<pid>/status: real,
// effective, saved and filesystem ids, tab-separated.
func procIDs(t *testing.T, pid int) (uid, gid string) {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("worker %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "Uid:"); ok {
			uid = strings.Join(strings.Fields(v), " ")
		}
		if v, ok := strings.CutPrefix(line, "Gid:"); ok {
			gid = strings.Join(strings.Fields(v), " ")
		}
	}
	return uid, gid
}

// statusAsNobody runs a plain `spread status --addr ADDR` as nobody, with
// no --control-socket: it must find the server by itself.
func statusAsNobody(t *testing.T, addr string) (string, error) {
	t.Helper()
	cmd := exec.Command(spreadtest.SharedBinary(t), "status", "--addr", addr)
	cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR=") // nobody has none
	spreadtest.AsUser(cmd, spreadtest.Nobody)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestWorkersRunAsTheUserOnAPrivilegedPort is --user's bar: the sockets of
// a port below 1024 are bound by the root supervisor, every worker,
// built-in or a command after --, runs as nobody (all four uids and gids),
// requests are served, and a plain `spread status` finds the server, run
// by nobody or by root.
func TestWorkersRunAsTheUserOnAPrivilegedPort(t *testing.T) {
	spreadtest.RequireRoot(t)
	requireCommand(t, "python3", "python3")
	want := fmt.Sprintf("%d %d %d %d", spreadtest.Nobody, spreadtest.Nobody, spreadtest.Nobody, spreadtest.Nobody)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"built-in", nil},
		{"exec", []string{"--ready", "notify", "--", "python3", "examples/python/server.py"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := fmt.Sprintf("127.0.0.1:%d", spreadtest.FreeLowPort(t))
			args := append([]string{"--workers", "2", "--user", "nobody", "--group", "nogroup"}, tc.args...)
			s := spreadtest.StartBinaryAt(t, spreadtest.SharedBinary(t), addr, args...)
			pids := s.WaitOnline(2, 15*time.Second)
			if uid, _ := procIDs(t, s.Pid()); !strings.HasPrefix(uid, "0 ") {
				t.Fatalf("supervisor runs as uid %q, want root: it keeps its privileges", uid)
			}
			for _, pid := range pids {
				uid, gid := procIDs(t, pid)
				if uid != want || gid != want {
					t.Errorf("worker %d: Uid %q Gid %q, want %q for both", pid, uid, gid, want)
				}
			}
			for i := range 10 {
				r, err := s.Get("/")
				if err != nil || r.Status != 200 {
					t.Fatalf("request %d on %s: %v %+v", i, addr, err, r)
				}
			}
			out, err := statusAsNobody(t, addr)
			if err != nil || !strings.Contains(out, "2/2 workers online") {
				t.Fatalf("spread status as nobody: %v\n%s", err, out)
			}
			// Root's plain status finds it too, in nobody's directory.
			if out, code := s.CLI("status"); code != 0 || !strings.Contains(out, "2/2 workers online") {
				t.Fatalf("spread status as root: exit %d\n%s", code, out)
			}
		})
	}
}

func TestUnknownUserOrGroupIsAOneLineError(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--user", "spread-test-no-such-user"}, `--user: no user "spread-test-no-such-user"`},
		{[]string{"--user", "nobody", "--group", "spread-test-no-such-group"}, `--group: no group "spread-test-no-such-group"`},
		{[]string{"--group", "nogroup"}, "--group needs --user"},
	} {
		cmd := exec.Command(spreadtest.Binary(t), append([]string{"serve", "--addr", "127.0.0.1:1"}, tc.args...)...)
		out, err := cmd.CombinedOutput()
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if err == nil || len(lines) != 1 || !strings.Contains(lines[0], tc.want) {
			t.Errorf("spread serve %v: %v, want one line with %q, got:\n%s", tc.args, err, tc.want, out)
		}
	}
}
