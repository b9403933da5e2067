package spreadtest

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// This file starts the real spread binary and drives it: signals, the
// CLI, its worker processes.

// Server is a running `spread serve`.
type Server struct {
	t    testing.TB
	Cmd  *exec.Cmd
	Addr string // 127.0.0.1:port
	log  *Log
	done chan struct{}
}

// Start runs `spread serve --addr 127.0.0.1:<free port> --log-format json
// args...` and returns without waiting for workers. The process is killed
// when the test ends, if it is still running.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	return StartAt(t, addr, args...)
}

// StartBinary is Start running the spread binary at bin (a copy, a
// rebuilt one) instead of Binary's.
func StartBinary(t testing.TB, bin string, args ...string) *Server {
	t.Helper()
	return start(t, bin, fmt.Sprintf("127.0.0.1:%d", FreePort(t)), nil, args)
}

// StartLoggingTo is Start with the server's stdout and stderr going to out
// (a pipe's write end, say) instead of to Log, which then stays empty. The
// caller may close its copy of out once StartLoggingTo returns.
func StartLoggingTo(t testing.TB, out *os.File, args ...string) *Server {
	t.Helper()
	return start(t, Binary(t), fmt.Sprintf("127.0.0.1:%d", FreePort(t)), nil, args, func(cmd *exec.Cmd) {
		cmd.Stdout, cmd.Stderr = out, out
	})
}

// StartEnv is Start with extra environment variables (KEY=value).
func StartEnv(t testing.TB, env []string, args ...string) *Server {
	t.Helper()
	return start(t, Binary(t), fmt.Sprintf("127.0.0.1:%d", FreePort(t)), env, args)
}

// StartAt is Start on a given address.
func StartAt(t testing.TB, addr string, args ...string) *Server {
	t.Helper()
	return start(t, Binary(t), addr, nil, args)
}

// start runs the server, its output in Log; adjust, when given, changes
// the command before it starts (another output, another user).
func start(t testing.TB, bin, addr string, env, args []string, adjust ...func(*exec.Cmd)) *Server {
	t.Helper()
	full := append([]string{"serve", "--addr", addr, "--log-format", "json"}, args...)
	cmd := exec.Command(bin, full...)
	log := &Log{}
	cmd.Stdout, cmd.Stderr = log, log
	cmd.Env = append(append(os.Environ(), "GOTRACEBACK=all"), env...)
	for _, f := range adjust {
		f(cmd)
	}
	// A process spread started and that outlives it (a test gone wrong)
	// would hold the log pipe open and Wait with it forever.
	cmd.WaitDelay = 10 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &Server{t: t, Cmd: cmd, Addr: addr, log: log, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		if !s.Exited() {
			_ = cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("spread log:\n%s", log.String())
		}
	})
	return s
}

// CLI runs `spread command --addr <this server's address> args...` (flags
// go before positional arguments) and returns
// its combined output and exit code.
func (s *Server) CLI(command string, args ...string) (string, int) {
	s.t.Helper()
	full := append([]string{command, "--addr", s.Addr}, args...)
	cmd := exec.Command(Binary(s.t), full...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			s.t.Fatalf("run spread %s %v: %v", command, args, err)
		}
	}
	return string(out), cmd.ProcessState.ExitCode()
}

// Log is the server's stderr so far.
func (s *Server) Log() *Log { return s.log }

// Pid is the supervisor's pid.
func (s *Server) Pid() int { return s.Cmd.Process.Pid }

// Exited reports whether the supervisor has exited.
func (s *Server) Exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Wait waits up to d for the supervisor to exit and returns its exit code.
func (s *Server) Wait(d time.Duration) int {
	s.t.Helper()
	select {
	case <-s.done:
		return s.Cmd.ProcessState.ExitCode()
	case <-time.After(d):
		s.t.Fatalf("spread did not exit within %s", d)
		return -1
	}
}

// Signal sends sig to the supervisor.
func (s *Server) Signal(sig syscall.Signal) {
	s.t.Helper()
	if err := s.Cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal supervisor: %v", err)
	}
}

// Workers returns the pids of the supervisor's live children, sorted,
// but its spare's (see Spare).
func (s *Server) Workers() []int {
	var pids []int
	for _, pid := range Children(s.Pid()) {
		if !IsSpare(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// Spare returns the pid of the supervisor's spare, 0 when none runs.
func (s *Server) Spare() int {
	for _, pid := range Children(s.Pid()) {
		if IsSpare(pid) {
			return pid
		}
	}
	return 0
}

// WaitOnline waits until n workers are online: n live children, each of
// which has logged "worker online", and the server answers.
func (s *Server) WaitOnline(n int, d time.Duration) []int {
	s.t.Helper()
	var pids []int
	Eventually(s.t, d, fmt.Sprintf("%d workers online", n), func() bool {
		if s.Exited() {
			s.t.Fatalf("spread exited while waiting for workers:\n%s", s.log.String())
		}
		pids = s.Workers()
		if len(pids) != n {
			return false
		}
		online := map[int]bool{}
		for _, ev := range s.log.Events("worker online") {
			if p, ok := ev["pid"].(float64); ok {
				online[int(p)] = true
			}
		}
		for _, p := range pids {
			if !online[p] {
				return false
			}
		}
		return true
	})
	return pids
}
