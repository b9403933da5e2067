package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/spreadtest"
)

// keepAliveGet sends GET path on a new connection without asking to close
// it, so the server's own Connection header is what decides.
func keepAliveGet(addr, path string) (status int, closes bool, err error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return 0, false, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: spread\r\n\r\n"); err != nil {
		return 0, false, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, false, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Close, nil
}

// expectRoute fails the test unless path answers want, with or without
// Connection: close as closes says.
func expectRoute(t *testing.T, addr, path string, want int, closes bool) {
	t.Helper()
	st, cl, err := keepAliveGet(addr, path)
	if err != nil || st != want || cl != closes {
		t.Fatalf("GET %s: status %d, Connection: close %v, err %v; want %d, %v", path, st, cl, err, want, closes)
	}
}

func TestDrainDelayFailsHealthzKeepsServingThenStopsWithZero(t *testing.T) {
	for _, engine := range []string{"net/http", "fasthttp"} {
		t.Run(strings.ReplaceAll(engine, "/", ""), func(t *testing.T) {
			const delay = 3 * time.Second
			s := spreadtest.Start(t, "--workers", "2", "--engine", engine, "--drain-delay", delay.String())
			s.WaitOnline(2, 10*time.Second)
			expectRoute(t, s.Addr, "/healthz", 200, false)

			l := &spreadtest.Load{Addr: s.Addr, Conns: 16, MaxRequests: 1_000_000, MaxDuration: 30 * time.Second}
			l.Start()
			spreadtest.Eventually(t, 5*time.Second, "the load to get answers", func() bool {
				ok, _ := l.Done()
				return ok > 100
			})
			term := time.Now()
			s.Signal(syscall.SIGTERM)
			waitEvents(t, s, "drain delay started: /healthz answers 503", 1, 2*time.Second)
			// Every worker says 503: each new connection may reach either.
			for i := range 20 {
				spreadtest.Eventually(t, time.Second, fmt.Sprintf("/healthz 503 (check %d)", i), func() bool {
					st, cl, err := keepAliveGet(s.Addr, "/healthz")
					return err == nil && st == 503 && cl
				})
			}
			expectRoute(t, s.Addr, "/", 200, false)
			expectRoute(t, s.Addr, "/delay?ms=10", 200, false)
			// The load stops before the delay ends: a balancer has moved
			// the traffic off by then. Nothing sent during the delay fails.
			time.Sleep(time.Until(term.Add(delay - time.Second)))
			if s.Exited() {
				t.Fatalf("spread exited %s after SIGTERM, before its %s drain delay", time.Since(term), delay)
			}
			expectRoute(t, s.Addr, "/", 200, false)
			l.Stop()
			ok, failed := l.Done()
			if failed != 0 || ok == 0 {
				t.Fatalf("load across the drain delay: %d ok, %d failed (%v)", ok, failed, l.Errors())
			}
			if code := s.Wait(15 * time.Second); code != 0 {
				t.Fatalf("exit code %d after the drain delay, want 0", code)
			}
			if took := time.Since(term); took < delay {
				t.Fatalf("spread exited %s after SIGTERM, within its %s drain delay", took, delay)
			}
			t.Logf("%d requests during the drain delay, none failed", ok)
		})
	}
}

func TestSecondSIGTERMCutsTheDrainDelayShort(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "2", "--drain-delay", "60s")
	s.WaitOnline(2, 10*time.Second)
	s.Signal(syscall.SIGTERM)
	spreadtest.Eventually(t, 5*time.Second, "/healthz to answer 503", func() bool {
		st, _, err := keepAliveGet(s.Addr, "/healthz")
		return err == nil && st == 503
	})
	s.Signal(syscall.SIGTERM)
	if code := s.Wait(5 * time.Second); code != 0 {
		t.Fatalf("exit code %d after the second SIGTERM, want 0", code)
	}
	waitEvents(t, s, "drain delay ended: workers drain", 1, time.Second)
}

func TestStopWaitReturnsOnlyOnceTheServerIsGone(t *testing.T) {
	const delay = 1500 * time.Millisecond
	s := spreadtest.Start(t, "--workers", "2", "--drain-delay", delay.String())
	s.WaitOnline(2, 10*time.Second)
	start := time.Now()
	out, code := s.CLI("stop", "--wait")
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("spread stop --wait: exit %d: %s", code, out)
	}
	if spreadtest.Alive(s.Pid()) {
		t.Fatalf("spread stop --wait returned after %s while the supervisor still runs: %s", took, out)
	}
	if took < delay {
		t.Fatalf("spread stop --wait returned after %s, within the %s drain delay", took, delay)
	}
	if code := s.Wait(2 * time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
}

func TestExecWorkersKeepTheirStopSignalForTheDrainDelay(t *testing.T) {
	const delay = 1500 * time.Millisecond
	s := spreadtest.Start(t, execArgs("--workers", "1", "--drain-delay", delay.String())...)
	pids := s.WaitOnline(1, 10*time.Second)
	term := time.Now()
	s.Signal(syscall.SIGTERM)
	waitEvents(t, s, "drain delay started: /healthz answers 503", 1, 2*time.Second)
	// No SIGUSR2 for a program of the user's: it would die of it.
	if r, err := s.Get("/"); err != nil || r.Status != 200 || !spreadtest.Alive(pids[0]) {
		t.Fatalf("exec worker during the drain delay: %v, status %d, alive %v", err, r.Status, spreadtest.Alive(pids[0]))
	}
	if code := s.Wait(15 * time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if took := time.Since(term); took < delay {
		t.Fatalf("exited %s after SIGTERM, within the %s drain delay", took, delay)
	}
	exits := s.Log().Events("worker exited")
	if len(exits) != 1 || exits[0]["signal"] == "SIGUSR2" {
		t.Fatalf("exec worker exits: %v", exits)
	}
}
