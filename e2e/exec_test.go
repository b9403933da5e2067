package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/spreadtest"
)

// These tests run the programs in examples/ as spread's workers
// (`spread serve -- CMD`), as a user would. node and python3 are required,
// not optional: .ci/run installs them, and a test skipped for want of them
// would prove nothing.

// example is one program of examples/ and the flags it runs with.
type example struct {
	name  string
	flags []string
	cmd   []string // after --
}

// exampleUnderTest returns how to run the named example from the
// repository's root, building the Go one into a temporary directory.
func exampleUnderTest(t *testing.T, name string) example {
	t.Helper()
	switch name {
	case "node":
		requireCommand(t, "node", "nodejs")
		// node's core has no unix datagram socket: no READY=1.
		return example{name, []string{"--ready", "start"}, []string{"node", "examples/node/server.js"}}
	case "python":
		requireCommand(t, "python3", "python3")
		return example{name, []string{"--ready", "notify"}, []string{"python3", "examples/python/server.py"}}
	case "go":
		bin := filepath.Join(t.TempDir(), "example-go")
		if out, err := exec.Command("go", "build", "-o", bin, "./examples/go").CombinedOutput(); err != nil {
			t.Fatalf("go build ./examples/go: %v\n%s", err, out)
		}
		return example{name, []string{"--ready", "notify"}, []string{bin}}
	}
	t.Fatalf("no example %q", name)
	return example{}
}

// requireCommand fails the test when cmd is not on PATH.
func requireCommand(t *testing.T, cmd, debianPackage string) {
	t.Helper()
	if _, err := exec.LookPath(cmd); err != nil {
		t.Fatalf("%s is not installed (apt-get install %s; .ci/run does): %v", cmd, debianPackage, err)
	}
}

// fdsAtExec wraps cmd in a shell that writes the descriptors it was
// started with to $SPREAD_TEST_FDS/<slot>.<pid>, then execs cmd in its place (same pid,
// same descriptors). A running node, python or Go program opens
// descriptors of its own (epoll, eventfd, pipes), so only this moment
// shows what spread passed. The listing runs in a subshell: dash applies a
// redirection of a plain command in the shell itself, saving fd 1 as fd 10.
func fdsAtExec(cmd []string) []string {
	script := `(ls /proc/$$/fd >"$SPREAD_TEST_FDS/$SPREAD_SLOT.$$"); exec "$@"`
	return append([]string{"sh", "-c", script, "sh"}, cmd...)
}

// listenersHeld counts pid's descriptors that are one of the listening
// sockets (by inode) in listening.
func listenersHeld(t *testing.T, pid int, listening map[string]bool) int {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("descriptors of worker %d: %v", pid, err)
	}
	n := 0
	for _, e := range ents {
		link, _ := os.Readlink(filepath.Join(dir, e.Name()))
		if listening[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] {
			n++
		}
	}
	return n
}

// environOf reads the environment a process was started with.
func environOf(t *testing.T, pid int) []string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatalf("environment of worker %d: %v", pid, err)
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// envValue is the value of key in env, and whether it is set.
func envValue(env []string, key string) (string, bool) {
	for _, kv := range env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

func TestEachExampleServesTwoWorkersOnFD3WithTheActivationEnvironment(t *testing.T) {
	for _, name := range []string{"node", "python", "go"} {
		t.Run(name, func(t *testing.T) {
			ex := exampleUnderTest(t, name)
			dir := t.TempDir()
			args := append(append([]string{"--workers", "2"}, ex.flags...), "--")
			args = append(args, fdsAtExec(ex.cmd)...)
			s := spreadtest.StartEnv(t, []string{"SPREAD_TEST_FDS=" + dir}, args...)
			pids := s.WaitOnline(2, 15*time.Second)

			seen := map[int]bool{}
			for i := 0; i < 300 && len(seen) < 2; i++ {
				r, err := s.Get("/")
				if err != nil {
					t.Fatalf("GET /: %v", err)
				}
				pid := r.WorkerPid()
				if r.Status != 200 || r.Body != fmt.Sprintf("hello from %d\n", pid) {
					t.Fatalf("GET / = %d %q (X-Worker %q)", r.Status, r.Body, r.Worker)
				}
				if !slices.Contains(pids, pid) {
					t.Fatalf("answer from pid %d, which is not a worker (workers %v)", pid, pids)
				}
				seen[pid] = true
			}
			if len(seen) != 2 {
				t.Fatalf("300 fresh connections reached %d distinct workers, want 2", len(seen))
			}

			listening := spreadtest.ListenInodes(t, s.Addr)
			slots := map[string]bool{}
			for _, pid := range pids {
				env := environOf(t, pid)
				for key, want := range map[string]string{
					"LISTEN_FDS":     "1",
					"LISTEN_PID":     strconv.Itoa(pid),
					"LISTEN_FDNAMES": "http",
					"SPREAD_WORKERS": "2",
				} {
					if got, ok := envValue(env, key); !ok || got != want {
						t.Errorf("worker %d: %s=%q (set: %v), want %q", pid, key, got, ok, want)
					}
				}
				slot, ok := envValue(env, "SPREAD_SLOT")
				if !ok || (slot != "0" && slot != "1") {
					t.Fatalf("worker %d: SPREAD_SLOT=%q (set: %v), want 0 or 1", pid, slot, ok)
				}
				slots[slot] = true
				if sock, _ := envValue(env, "NOTIFY_SOCKET"); !strings.HasPrefix(sock, "@") {
					t.Errorf("worker %d: NOTIFY_SOCKET=%q, want an abstract name (@...)", pid, sock)
				}

				listed, err := os.ReadFile(filepath.Join(dir, slot+"."+strconv.Itoa(pid)))
				if err != nil {
					t.Fatalf("worker %d: no descriptor list from its start: %v", pid, err)
				}
				if fds := strings.Fields(string(listed)); !slices.Equal(fds, []string{"0", "1", "2", "3"}) {
					t.Errorf("worker %d started with descriptors %v, want exactly 0 1 2 3", pid, fds)
				}
				// The running program still holds the slot's socket, on fd
				// 3 or on a duplicate (Go's net.FileListener dups fd 3, and
				// go-systemd's activation then closes it).
				if n := listenersHeld(t, pid, listening); n != 1 {
					t.Errorf("worker %d holds %d of the port's listening sockets %v, want 1", pid, n, listening)
				}
			}
			if len(slots) != 2 {
				t.Fatalf("the two workers have slots %v, want 0 and 1", slots)
			}
		})
	}
}

func TestNodeExampleReloadUnderLoadLosesNothingAndRenewsEveryPid(t *testing.T) {
	for _, keepAlive := range []bool{true, false} {
		t.Run(fmt.Sprintf("keepalive=%v", keepAlive), func(t *testing.T) {
			ex := exampleUnderTest(t, "node")
			args := append(append([]string{"--workers", "2", "--ready-delay", "500ms"}, ex.flags...), "--")
			s := spreadtest.Start(t, append(args, ex.cmd...)...)
			before := s.WaitOnline(2, 15*time.Second)
			l := &spreadtest.Load{Addr: s.Addr, Conns: 32, KeepAlive: keepAlive, MaxRequests: 2_000_000, MaxDuration: 60 * time.Second}
			var after []int
			runLoad(t, l, func() {
				// One reload from the CLI, one from SIGHUP.
				out, code := s.CLI("reload")
				if code != 0 {
					t.Fatalf("spread reload exited %d: %s", code, out)
				}
				waitEvents(t, s, "reload finished", 1, 20*time.Second)
				s.Signal(syscall.SIGHUP)
				waitEvents(t, s, "reload finished", 2, 20*time.Second)
				// Once the old workers have drained, the load must reach
				// the new ones: a reload that only paused serving would
				// otherwise pass.
				after = s.WaitOnline(2, 15*time.Second)
				spreadtest.Eventually(t, 10*time.Second, fmt.Sprintf("an answer from a new worker %v", after), func() bool {
					for w := range l.Workers() {
						if pid, err := strconv.Atoi(w); err == nil && slices.Contains(after, pid) {
							return true
						}
					}
					return false
				})
			})
			for _, p := range after {
				if slices.Contains(before, p) {
					t.Fatalf("worker %d survived two reloads (before %v, after %v)", p, before, after)
				}
			}
			for _, p := range before {
				if spreadtest.Alive(p) {
					t.Fatalf("old worker %d still runs after the reloads", p)
				}
			}
		})
	}
}

func TestBadCommandFailsInOneLineWithinTheStartTimeout(t *testing.T) {
	notExecutable := filepath.Join(t.TempDir(), "app")
	if err := os.WriteFile(notExecutable, []byte("#!/bin/sh\nexit 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const startTimeout = 3 * time.Second
	timeout := []string{"--start-timeout", startTimeout.String()}
	cases := []struct {
		name string
		args []string
		want []string // each must be in the error line
	}{
		{"missing", []string{"--", "spread-test-no-such-command"}, []string{"spread-test-no-such-command", "not found"}},
		{"not executable", []string{"--", notExecutable}, []string{notExecutable, "permission denied"}},
		{"exits at once", []string{"--", "false"}, []string{"false", "exit"}},
		{"never ready", []string{"--ready", "notify", "--", "sleep", "60"}, []string{"sleep", "READY=1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := spreadtest.Start(t, append(append([]string{"--workers", "2"}, timeout...), c.args...)...)
			started := time.Now()
			// The start timeout, plus a few seconds for the kill and exit.
			if code := s.Wait(startTimeout + 3*time.Second); code == 0 {
				t.Fatalf("spread exited 0 with %v", c.args)
			}
			t.Logf("exited after %s", time.Since(started).Round(time.Millisecond))
			out := s.Log().String()
			assertOneErrorLine(t, out, c.want[0])
			for _, w := range c.want[1:] {
				assertOneErrorLine(t, out, w)
			}
		})
	}
}
