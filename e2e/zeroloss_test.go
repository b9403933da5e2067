package e2e

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/spreadtest"
)

// queuedRequests opens n connections, each sending GET /, and returns a
// channel that yields each one's status (0 for a failure).
func queuedRequests(t *testing.T, addr string, n int) <-chan int {
	t.Helper()
	out := make(chan int, n)
	for range n {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: spread\r\nConnection: close\r\n\r\n"); err != nil {
			t.Fatalf("write: %v", err)
		}
		go func() {
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(15 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				out <- 0
				return
			}
			resp.Body.Close()
			out <- resp.StatusCode
		}()
	}
	return out
}

// collect reads n statuses within d and returns how many were 200.
func collect(t *testing.T, statuses <-chan int, n int, d time.Duration) (ok int) {
	t.Helper()
	timeout := time.After(d)
	for i := range n {
		select {
		case st := <-statuses:
			if st == 200 {
				ok++
			}
		case <-timeout:
			t.Fatalf("%d of %d requests answered within %s", i, n, d)
		}
	}
	return ok
}

func TestConnectionsQueuedOnAKilledWorkerAreServedByItsReplacement(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "2")
	pids := s.WaitOnline(2, 10*time.Second)
	victim := pids[0]
	spreadtest.StopProcess(t, victim)
	const n = 64
	statuses := queuedRequests(t, s.Addr, n)
	// The healthy worker answers its share; the rest wait in the stopped
	// worker's queue.
	answered := 0
	spreadtest.Eventually(t, 5*time.Second, "every connection answered or queued", func() bool {
		for {
			select {
			case st := <-statuses:
				if st != 200 {
					t.Fatalf("request failed before the kill (status %d)", st)
				}
				answered++
				continue
			default:
			}
			break
		}
		_, queued := spreadtest.PortSockets(t, s.Addr)
		return answered+queued == n
	})
	queued := n - answered
	t.Logf("%d answered by the healthy worker, %d queued on the stopped one", answered, queued)
	if queued == 0 {
		t.Fatal("no connection queued on the stopped worker: the test proves nothing")
	}
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if ok := collect(t, statuses, queued, 5*time.Second); ok != queued {
		t.Fatalf("%d of %d queued requests got 200 after their worker was killed", ok, queued)
	}
}

func TestStoppedWorkerIsReplacedAsHungWithItsQueueServedAndStacksLogged(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "2", "--worker-timeout", "2s")
	pids := s.WaitOnline(2, 10*time.Second)
	victim := pids[1]
	spreadtest.StopProcess(t, victim)
	stopped := time.Now()
	const n = 32
	statuses := queuedRequests(t, s.Addr, n)
	spreadtest.Eventually(t, 5*time.Second, "the stopped worker to be replaced", func() bool {
		w := s.Workers()
		return !spreadtest.Alive(victim) && len(w) == 2
	})
	t.Logf("replaced %s after SIGSTOP", time.Since(stopped).Round(time.Millisecond))
	if ok := collect(t, statuses, n, 5*time.Second); ok != n {
		t.Fatalf("%d of %d requests got 200 across the hang", ok, n)
	}
	spreadtest.Eventually(t, 2*time.Second, "a goroutine dump in the log", func() bool {
		log := s.Log().String()
		return strings.Contains(log, fmt.Sprintf("goroutine dump of spread worker slot 1 pid %d", victim)) &&
			strings.Contains(log, "goroutine 1 [")
	})
}

// runLoad runs l while act does its work, and fails the test on any lost
// request.
func runLoad(t *testing.T, l *spreadtest.Load, act func()) {
	t.Helper()
	l.Start()
	act()
	l.Stop()
	ok, failed := l.Done()
	t.Logf("load: %d ok, %d failed, workers %v", ok, failed, l.Workers())
	if failed != 0 {
		t.Fatalf("%d requests lost: %v", failed, l.Errors())
	}
	if ok < 100 {
		t.Fatalf("only %d requests answered: the load did not run", ok)
	}
}

// waitEvents waits until the log holds n events with message msg.
func waitEvents(t *testing.T, s *spreadtest.Server, msg string, n int, d time.Duration) {
	t.Helper()
	spreadtest.Eventually(t, d, fmt.Sprintf("%d %q events", n, msg), func() bool {
		return len(s.Log().Events(msg)) >= n
	})
}

func testReloadLosesNothing(t *testing.T, keepAlive bool) {
	s := spreadtest.Start(t, "--workers", "2")
	before := s.WaitOnline(2, 10*time.Second)
	l := &spreadtest.Load{Addr: s.Addr, Conns: 32, KeepAlive: keepAlive, MaxRequests: 2_000_000, MaxDuration: 60 * time.Second}
	runLoad(t, l, func() {
		for i := 1; i <= 3; i++ {
			s.Signal(syscall.SIGHUP)
			waitEvents(t, s, "reload finished", i, 20*time.Second)
		}
	})
	after := s.WaitOnline(2, 15*time.Second)
	for _, p := range after {
		if contains(before, p) {
			t.Fatalf("worker %d survived three reloads (before %v, after %v)", p, before, after)
		}
	}
}

func TestReloadUnderKeepAliveLoadLosesNothing(t *testing.T) { testReloadLosesNothing(t, true) }

func TestReloadUnderConnectionPerRequestLoadLosesNothing(t *testing.T) {
	testReloadLosesNothing(t, false)
}

func TestSIGTERMToRandomWorkersUnderLoadLosesNothing(t *testing.T) {
	for _, keepAlive := range []bool{true, false} {
		t.Run(fmt.Sprintf("keepalive=%v", keepAlive), func(t *testing.T) {
			s := spreadtest.Start(t, "--workers", "2")
			s.WaitOnline(2, 10*time.Second)
			l := &spreadtest.Load{Addr: s.Addr, Conns: 32, KeepAlive: keepAlive, MaxRequests: 2_000_000, MaxDuration: 60 * time.Second}
			runLoad(t, l, func() {
				for i := range 4 {
					pids := s.WaitOnline(2, 10*time.Second)
					victim := pids[rand.N(len(pids))]
					if err := syscall.Kill(victim, syscall.SIGTERM); err != nil {
						t.Fatal(err)
					}
					waitEvents(t, s, "worker exited", i+1, 15*time.Second)
				}
			})
			s.WaitOnline(2, 10*time.Second)
		})
	}
}

// upgradeableBinary copies spread to a temp path, so a test can replace it
// the way a deploy does.
func upgradeableBinary(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile(spreadtest.Binary(t))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "spread")
	if err := os.WriteFile(path, src, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// replaceFile puts content at path as a new file (write, then rename), as
// an install does, so processes running the old file keep its inode.
func replaceFile(t *testing.T, path string, content []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, content, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestReloadRunsTheBinaryNowOnDisk(t *testing.T) {
	bin := upgradeableBinary(t)
	s := spreadtest.StartBinary(t, bin, "--workers", "2")
	before := s.WaitOnline(2, 10*time.Second)
	content, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	replaceFile(t, bin, content)
	s.Signal(syscall.SIGHUP)
	waitEvents(t, s, "reload finished", 1, 20*time.Second)
	after := s.WaitOnline(2, 15*time.Second)
	for _, p := range after {
		if contains(before, p) {
			t.Fatalf("worker %d was not replaced", p)
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p))
		if err != nil {
			t.Fatal(err)
		}
		if exe != bin {
			t.Fatalf("new worker %d runs %q, want the new file %q", p, exe, bin)
		}
	}
}

func TestReloadThatCannotStartAWorkerKeepsTheOldOnes(t *testing.T) {
	bin := upgradeableBinary(t)
	s := spreadtest.StartBinary(t, bin, "--workers", "2")
	before := s.WaitOnline(2, 10*time.Second)
	replaceFile(t, bin, []byte("#!/bin/sh\necho 'broken build' >&2\nexit 3\n"))
	s.Signal(syscall.SIGHUP)
	waitEvents(t, s, "reload failed: the old workers keep serving", 1, 10*time.Second)
	ev := s.Log().Events("reload failed: the old workers keep serving")[0]
	if reason, _ := ev["reason"].(string); !strings.Contains(reason, "exit code 3") {
		t.Fatalf("reload failure reason %q does not say why", reason)
	}
	after := s.Workers()
	if fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("workers changed from %v to %v after a failed reload", before, after)
	}
	for range 20 {
		r, err := s.Get("/")
		if err != nil || r.Status != 200 || !contains(before, r.WorkerPid()) {
			t.Fatalf("after a failed reload: %v %+v", err, r)
		}
	}
}

// The supervisor holds one duplicate of each slot's listening socket, and
// never polls them: a registered listener would wake it for every
// incoming connection.
func TestSupervisorHoldsEachSlotSocketWithoutPollingIt(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "2")
	s.WaitOnline(2, 10*time.Second)
	listening := spreadtest.ListenInodes(t, s.Addr)
	fdDir := fmt.Sprintf("/proc/%d/fd", s.Pid())
	ents, err := os.ReadDir(fdDir)
	if err != nil {
		t.Fatal(err)
	}
	held := map[string]bool{} // supervisor fds that are the port's listeners
	var epolls []string
	for _, e := range ents {
		link, _ := os.Readlink(filepath.Join(fdDir, e.Name()))
		inode := strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")
		switch {
		case listening[inode]:
			held[e.Name()] = true
		case link == "anon_inode:[eventpoll]":
			epolls = append(epolls, e.Name())
		}
	}
	if len(held) != 2 {
		t.Fatalf("supervisor holds %d of the port's listening sockets, want one per slot (2)", len(held))
	}
	for _, ep := range epolls {
		info, err := os.ReadFile(fmt.Sprintf("/proc/%d/fdinfo/%s", s.Pid(), ep))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(info), "\n") {
			// "tfd:        7 events: ..." lists a registered descriptor.
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "tfd:" && held[f[1]] {
				t.Fatalf("supervisor polls slot socket fd %s: %s", f[1], line)
			}
		}
	}
}
