package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/spreadtest"
	"github.com/spreadhttp/spread/reuseport"
)

// These tests run the real binary, send it real signals and talk to it
// over loopback. Each wait has a deadline and names what it waited for.

func TestEveryWorkerAnswersWithItsOwnPid(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "3")
	pids := s.WaitOnline(3, 10*time.Second)
	seen := map[int]bool{}
	for i := 0; i < 300 && len(seen) < 3; i++ {
		r, err := s.Get("/")
		if err != nil {
			t.Fatalf("GET /: %v", err)
		}
		pid := r.WorkerPid()
		if r.Status != 200 || r.Body != fmt.Sprintf("Hello World from worker process %d", pid) {
			t.Fatalf("GET / = %d %q (X-Worker %q)", r.Status, r.Body, r.Worker)
		}
		if !contains(pids, pid) {
			t.Fatalf("answer from pid %d, which is not a worker (workers %v)", pid, pids)
		}
		seen[pid] = true
	}
	if len(seen) != 3 {
		t.Fatalf("300 fresh connections reached %d distinct workers, want 3", len(seen))
	}
	// Three workers share the cores: each gets max(1, CPUs/3) Ps.
	want := fmt.Sprintf("GOMAXPROCS=%d", max(1, runtime.NumCPU()/3))
	for _, p := range pids {
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", p))
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(strings.Split(string(env), "\x00"), want) {
			t.Fatalf("worker %d runs without %s", p, want)
		}
	}
}

func TestKilledWorkerIsReplacedWithinOneSecond(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "2")
	before := s.WaitOnline(2, 10*time.Second)
	victim := before[0]
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	var fresh int
	spreadtest.Eventually(t, time.Second, "a new worker pid answering", func() bool {
		r, err := s.Get("/")
		if err != nil || r.Status != 200 {
			return false
		}
		if p := r.WorkerPid(); p != before[1] && p != victim {
			fresh = p
			return true
		}
		return false
	})
	t.Logf("new worker %d answered %s after the kill", fresh, time.Since(killed).Round(time.Millisecond))
	after := s.WaitOnline(2, 2*time.Second)
	if contains(after, victim) {
		t.Fatalf("killed worker %d still listed among %v", victim, after)
	}
}

func TestRequestInFlightAtSIGTERMCompletesAndExitIsZero(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "2")
	s.WaitOnline(2, 10*time.Second)
	type result struct {
		r   spreadtest.Reply
		err error
	}
	done := make(chan result, 1)
	go func() {
		r, err := s.Get("/delay?ms=1500")
		done <- result{r, err}
	}()
	// The request is in flight once a worker holds its connection.
	spreadtest.Eventually(t, 5*time.Second, "the /delay request to be accepted", func() bool {
		return spreadtest.Accepted(t, s.Addr) > 0
	})
	s.Signal(syscall.SIGTERM)
	res := <-done
	if res.err != nil || res.r.Status != 200 {
		t.Fatalf("in-flight request: %v, status %d", res.err, res.r.Status)
	}
	if code := s.Wait(10 * time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
}

func TestKilledSupervisorLeavesNoWorkerAndFreesThePort(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "2")
	pids := s.WaitOnline(2, 10*time.Second)
	s.Signal(syscall.SIGKILL)
	spreadtest.Eventually(t, 2*time.Second, fmt.Sprintf("workers %v to exit", pids), func() bool {
		for _, p := range pids {
			if spreadtest.Alive(p) {
				return false
			}
		}
		return true
	})
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		t.Fatalf("port still held after the workers exited: %v", err)
	}
	ln.Close()
}

func TestPortHeldByPlainListenerFailsFastNamingTheHolder(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := spreadtest.StartAt(t, ln.Addr().String(), "--workers", "2")
	start := time.Now()
	code := s.Wait(3 * time.Second)
	if code == 0 {
		t.Fatal("spread exited 0 on a port held by another process")
	}
	t.Logf("exited %d after %s", code, time.Since(start).Round(time.Millisecond))
	assertOneErrorLine(t, s.Log().String(), fmt.Sprintf("pid %d", os.Getpid()))
}

func TestPortHeldByPlainListenerWithSharingAllowedFailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := spreadtest.StartAt(t, ln.Addr().String(), "--workers", "2", "--allow-shared-port")
	if code := s.Wait(3 * time.Second); code == 0 {
		t.Fatal("spread exited 0 although no worker could bind")
	}
	assertOneErrorLine(t, s.Log().String(), "address already in use")
}

func TestForeignReuseportListenerIsRefusedAndNamed(t *testing.T) {
	ln, err := reuseport.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := spreadtest.StartAt(t, ln.Addr().String(), "--workers", "1")
	if code := s.Wait(3 * time.Second); code == 0 {
		t.Fatal("spread joined a port another process serves with SO_REUSEPORT")
	}
	assertOneErrorLine(t, s.Log().String(), fmt.Sprintf("pid %d", os.Getpid()))
}

func TestBadFlagsGiveOneLineErrors(t *testing.T) {
	// Should a bad value be taken, the server stays on loopback.
	free := fmt.Sprintf("127.0.0.1:%d", spreadtest.FreePort(t))
	cases := []struct {
		args []string
		want string
		env  []string
	}{
		{[]string{"--workers", "0"}, "--workers", nil},
		{[]string{"--workers", "-3"}, "--workers", nil},
		{[]string{"--addr", "nonsense"}, "nonsense", nil},
		{[]string{"--addr", "127.0.0.1:0"}, "port 0", nil},
		{[]string{"--graceful-timeout", "-1s"}, "--graceful-timeout", nil},
		{[]string{"--graceful-timeout", "soon"}, "graceful-timeout", nil},
		{[]string{"--start-timeout", "0s"}, "--start-timeout", nil},
		{[]string{"--engine", "gopher"}, "--engine", nil},
		{[]string{"--log-format", "xml"}, "--log-format", nil},
		{[]string{"--no-such-flag"}, "no-such-flag", nil},
		{[]string{"--max-header-bytes", "4096"}, "--max-header-bytes", nil},
		{[]string{"--max-header-bytes", "1099511627776"}, "--max-header-bytes", nil},
		// 2^61 made the scoreboard's size overflow into a panic; 2^62
		// wrapped to a tiny scoreboard.
		{[]string{"--addr", free, "--max-workers", "2305843009213693952"}, "--max-workers must be at most", nil},
		{[]string{"--addr", free, "--max-workers", "4611686018427387904"}, "--max-workers must be at most", nil},
		{[]string{"--addr", free, "--workers", "4611686018427387904"}, "--workers must be at most", nil},
		// The worker's variable set by hand used to silence every error.
		{[]string{"--addr", free}, "was not started by a spread supervisor", []string{"SPREAD_INTERNAL_WORKER_SPEC={}"}},
		{[]string{"--addr", free}, "was not started by a spread supervisor", []string{"SPREAD_INTERNAL_WORKER_SPEC=garbage"}},
	}
	bin := spreadtest.Binary(t)
	for _, c := range cases {
		t.Run(strings.Join(append(c.env, c.args...), " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append([]string{"serve"}, c.args...)...)
			cmd.Env = append(os.Environ(), c.env...)
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("spread serve %v was still running after 10s: the value was taken:\n%s", c.args, out)
			}
			if err == nil {
				t.Fatalf("exit 0 for %v", c.args)
			}
			assertOneErrorLine(t, string(out), c.want)
		})
	}
}

// The worker's environment variable, set by hand, must not make the
// client commands fail in silence either.
func TestHandSetWorkerSpecLeavesClientErrorsSaid(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", spreadtest.FreePort(t))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"status", "--addr", addr}, "no spread server is running"},
		{[]string{"scale", "--addr", addr, "abc"}, "scale wants one worker count"},
	} {
		cmd := exec.Command(spreadtest.Binary(t), c.args...)
		cmd.Env = append(os.Environ(), "SPREAD_INTERNAL_WORKER_SPEC={}")
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("spread %v exited 0", c.args)
		}
		assertOneErrorLine(t, string(out), c.want)
	}
}

// assertOneErrorLine checks that out has exactly one "spread: " error line,
// that it mentions want, and that nothing looks like a crash.
func assertOneErrorLine(t *testing.T, out, want string) {
	t.Helper()
	var errs []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "spread: ") {
			errs = append(errs, line)
		}
	}
	if len(errs) != 1 {
		t.Fatalf("want one 'spread: ' error line, got %d in:\n%s", len(errs), out)
	}
	if !strings.Contains(errs[0], want) {
		t.Fatalf("error line %q does not mention %q", errs[0], want)
	}
	for _, bad := range []string{"goroutine ", "panic:", "Usage:", "USAGE:"} {
		if strings.Contains(out, bad) {
			t.Fatalf("output contains %q:\n%s", bad, out)
		}
	}
}

func contains(pids []int, pid int) bool {
	for _, p := range pids {
		if p == pid {
			return true
		}
	}
	return false
}

func TestSecondSIGINTStopsAtOnce(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "1", "--graceful-timeout", "30s")
	s.WaitOnline(1, 10*time.Second)
	go s.Get("/delay?ms=20000") // holds the drain open
	spreadtest.Eventually(t, 5*time.Second, "the /delay request to be accepted", func() bool {
		return spreadtest.Accepted(t, s.Addr) > 0
	})
	s.Signal(syscall.SIGINT)
	waitEvents(t, s, "supervisor stopping", 1, 5*time.Second)
	if s.Exited() {
		t.Fatal("the first SIGINT did not wait for the drain")
	}
	s.Signal(syscall.SIGINT)
	if code := s.Wait(3 * time.Second); code == 0 {
		t.Fatal("a forced stop exited 0")
	}
	assertOneErrorLine(t, s.Log().String(), "forced stop")
}
