package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/spreadtest"
)

// runAs runs the spread binary with args as uid (the test's own uid when
// uid is -1) and env added, and returns its combined output and exit code.
func runAs(t *testing.T, uid int, env []string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(spreadtest.SharedBinary(t), args...)
	if uid >= 0 {
		spreadtest.AsUser(cmd, uid)
	}
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("run spread %v: %v", args, err)
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// A spread directory under $XDG_RUNTIME_DIR that another user can write,
// or that is a symlink, would let that user replace the control socket.
// Server and client both refuse it, with the reason, instead of using it.
func TestUntrustedDefaultControlDirIsRefusedByServerAndClient(t *testing.T) {
	spreadtest.RequireRoot(t)
	cases := []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string
	}{
		{"owned by another user, mode 0777", func(t *testing.T, dir string) {
			mkdir(t, dir, 0o777)
			if err := os.Chown(dir, spreadtest.Nobody, spreadtest.Nobody); err != nil {
				t.Fatal(err)
			}
		}, "owned by nobody (uid 65534)"},
		{"owned by us, mode 0777", func(t *testing.T, dir string) {
			mkdir(t, dir, 0o777)
		}, "writable by group or others (mode 0777)"},
		{"a symlink to a private directory", func(t *testing.T, dir string) {
			target := filepath.Join(t.TempDir(), "elsewhere")
			mkdir(t, target, 0o700)
			if err := os.Symlink(target, dir); err != nil {
				t.Fatal(err)
			}
		}, "is a symlink"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			runtime := shortTempDir(t) // a socket path has at most 107 bytes
			c.setup(t, filepath.Join(runtime, "spread"))
			env := []string{"XDG_RUNTIME_DIR=" + runtime}
			s := spreadtest.StartEnv(t, env, "--workers", "1")
			if code := s.Wait(10 * time.Second); code != 1 {
				t.Fatalf("spread serve exited %d, want 1", code)
			}
			assertOneErrorLine(t, s.Log().String(), c.want)
			if n := len(s.Log().Events("worker started")); n != 0 {
				t.Fatalf("%d workers started before the refusal", n)
			}
			out, code := runAs(t, -1, env, "status", "--addr", s.Addr)
			if code != 1 {
				t.Fatalf("spread status exited %d: %s", code, out)
			}
			assertOneErrorLine(t, out, c.want)
		})
	}
}

// shortTempDir is a new directory under the temp dir with a short name,
// removed when the test ends.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "xdg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

func mkdir(t *testing.T, dir string, mode os.FileMode) {
	t.Helper()
	if err := os.Mkdir(dir, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

// A control socket served by another user's process, for example one that
// replaced root's socket, is not trusted: the client checks the server's
// uid (SO_PEERCRED) before it reads an answer or sends a stop.
func TestClientRefusesAControlSocketServedByAnotherUser(t *testing.T) {
	spreadtest.RequireRoot(t)
	sock := filepath.Join(spreadtest.UserDir(t, spreadtest.Nobody, 0o700), "ctl.sock")
	s := spreadtest.StartAs(t, spreadtest.Nobody, nil, "--workers", "1", "--control-socket", sock)
	s.WaitOnline(1, 15*time.Second)

	// Guard: the socket works for its own user.
	if out, code := runAs(t, spreadtest.Nobody, nil, "status", "--control-socket", sock); code != 0 {
		t.Fatalf("spread status as the server's own user exited %d: %s", code, out)
	}
	for _, cmd := range []string{"status", "stop"} {
		out, code := runAs(t, -1, nil, cmd, "--control-socket", sock)
		if code != 1 {
			t.Fatalf("spread %s against another user's server exited %d: %s", cmd, code, out)
		}
		assertOneErrorLine(t, out, "served by nobody (uid 65534), not by you or root")
	}
	// The refused stop never reached the server.
	if s.Exited() || len(s.Log().Events("supervisor stopping")) != 0 {
		t.Fatalf("the server stopped on a request its client refused to send")
	}
}

// spread serve as an ordinary user, with root's /run/spread in place,
// puts its control socket in a directory of its own instead of failing
// with "bind: permission denied".
func TestNonRootUserStartsWithTheDefaultControlSocket(t *testing.T) {
	spreadtest.RequireRoot(t)
	if err := os.MkdirAll("/run/spread", 0o700); err != nil {
		t.Skipf("cannot create root's /run/spread: %v", err)
	}
	fi, err := os.Lstat("/run/spread")
	if err != nil || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Fatalf("/run/spread is not root's: %v", err)
	}
	tmp := spreadtest.UserDir(t, spreadtest.Nobody, 0o700)
	env := []string{"TMPDIR=" + tmp, "XDG_RUNTIME_DIR="}
	s := spreadtest.StartAs(t, spreadtest.Nobody, env, "--workers", "1")
	s.WaitOnline(1, 15*time.Second)
	want := filepath.Join(tmp, "spread-65534")
	var opened []map[string]any
	spreadtest.Eventually(t, 5*time.Second, "control socket open", func() bool {
		opened = s.Log().Events("control socket open")
		return len(opened) == 1
	})
	if path, _ := opened[0]["path"].(string); filepath.Dir(path) != want {
		t.Fatalf("control socket at %v, want it in %s", opened[0]["path"], want)
	}
	out, code := runAs(t, spreadtest.Nobody, env, "status", "--addr", s.Addr)
	if code != 0 || !strings.Contains(out, "1/1 workers online") {
		t.Fatalf("spread status as the same user: exit %d: %s", code, out)
	}
	s.Signal(syscall.SIGTERM)
	if code := s.Wait(15 * time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
}

// A control socket this user may not open is not "no server": the
// client says permission denied and whose socket it is.
func TestPermissionDeniedDialNamesTheSocketsOwner(t *testing.T) {
	spreadtest.RequireRoot(t)
	sock := filepath.Join(spreadtest.UserDir(t, 0, 0o755), "ctl.sock")
	s := spreadtest.Start(t, "--workers", "1", "--control-socket", sock)
	s.WaitOnline(1, 10*time.Second)
	out, code := runAs(t, spreadtest.Nobody, nil, "status", "--control-socket", sock)
	if code != 1 {
		t.Fatalf("spread status as another user exited %d: %s", code, out)
	}
	assertOneErrorLine(t, out, fmt.Sprintf("permission denied on control socket %s, owned by root (uid 0)", sock))
	if strings.Contains(out, "no spread server") {
		t.Fatalf("a permission problem read as no server: %s", out)
	}
}
