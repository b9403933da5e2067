package e2e

import (
	"fmt"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/spreadtest"
	"github.com/spreadhttp/spread/reuseport"
)

// stopDrill SIGSTOPs one of two workers a second into an open-loop load of
// 200 new connections a second for 6 s, and returns what the clients saw.
// The stopped worker is never continued: the hang rules replace it.
func stopDrill(t *testing.T, steer string) spreadtest.OpenLoopResult {
	t.Helper()
	s := spreadtest.Start(t, "--workers", "2", "--steer", steer)
	victim := s.WaitOnline(2, 10*time.Second)[0]
	res := spreadtest.OpenLoop{Addr: s.Addr, Rate: 200, Duration: 6 * time.Second, Timeout: 20 * time.Second}.Run(func() {
		spreadtest.StopProcess(t, victim)
	})
	t.Logf("--steer=%s: %d sent, %d failed, %d slower than 100ms", steer, res.Sent, res.Failed, res.Slow(100*time.Millisecond))
	if res.Failed != 0 {
		t.Fatalf("--steer=%s: %d of %d requests lost across a hang", steer, res.Failed, res.Sent)
	}
	return res
}

func TestSteeringKeepsNewConnectionsAwayFromAStoppedWorker(t *testing.T) {
	on := stopDrill(t, "on")
	off := stopDrill(t, "off")
	slowOn, slowOff := on.Slow(100*time.Millisecond), off.Slow(100*time.Millisecond)
	if slowOff < 100 {
		t.Fatalf("without steering only %d requests were slow: the drill did not hang a worker", slowOff)
	}
	// The bar: at least ten times fewer slow requests than the kernel's
	// hash alone, in the same run.
	if slowOn*10 > slowOff {
		t.Fatalf("steering: %d slow requests against %d without; want at least 10x fewer", slowOn, slowOff)
	}
}

func TestScaleDownWithSteeringMigratesTheRetiredQueue(t *testing.T) {
	if on, err := reuseport.MigrateReqEnabled(); err != nil || on {
		t.Skipf("net.ipv4.tcp_migrate_req is on (or unreadable: %v): the kernel would migrate without steering", err)
	}
	// One-request-at-a-time workers, kept busy, so connections wait in
	// both slots' queues; a long quarantine keeps both slots selected.
	// With --steer=off, 12 of the 20 were reset in a trial run.
	s := spreadtest.Start(t, execArgs("--workers", "2", "--steer", "on", "--steer-quarantine", "30s", "--ready-delay", "300ms")...)
	s.WaitOnline(2, 10*time.Second)
	// Everything ends up served by one worker one at a time: give the
	// clients time for that on a loaded machine.
	patient := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	busy := make(chan int, 6)
	for range 6 {
		go func() {
			r, err := spreadtest.Get(patient, "http://"+s.Addr+"/delay?ms=700")
			if err != nil {
				busy <- 0
				return
			}
			busy <- r.Status
		}()
	}
	const n = 20
	statuses := queuedRequests(t, s.Addr, n)
	spreadtest.Eventually(t, 5*time.Second, "connections queued on slot 1", func() bool {
		for _, w := range statusOf(t, s).Workers {
			if w.Slot == 1 && w.Queue >= 3 {
				return true
			}
		}
		return false
	})
	// Slot 1 retires: its worker finishes the request it holds and exits
	// without accepting more, and its socket closes with the rest queued.
	if out, code := s.CLI("scale", "1"); code != 0 {
		t.Fatalf("scale: %s", out)
	}
	if ok := collect(t, statuses, n, 60*time.Second); ok != n {
		t.Fatalf("%d of %d queued requests answered across scale 2 -> 1", ok, n)
	}
	if ok := collect(t, busy, 6, 60*time.Second); ok != 6 {
		t.Fatalf("%d of 6 slow requests answered across scale 2 -> 1", ok)
	}
}

// TestScaleDownAndStopUnderLoadResetNothingWithSteering: three workers
// under an open-loop load; a second in, scale 3 -> 1, and once one worker
// is left, SIGTERM to the supervisor, with net.ipv4.tcp_migrate_req=0.
// The retired slots' queues migrate to the slot that stays, and the stop
// refuses new connections until its workers have accepted every queued
// one: no connection is reset or left unanswered. Those that arrive after
// the stop are refused, which proves the stop happened under load. Without
// steering, the same run reset about 10 on scale-down and 20 on SIGTERM
// (bench/study-steer.md).
func TestScaleDownAndStopUnderLoadResetNothingWithSteering(t *testing.T) {
	if on, err := reuseport.MigrateReqEnabled(); err != nil || on {
		t.Skipf("net.ipv4.tcp_migrate_req is on (or unreadable: %v): the kernel would migrate without steering", err)
	}
	s := spreadtest.Start(t, "--workers", "3", "--steer", "on")
	s.WaitOnline(3, 10*time.Second)
	bin := spreadtest.Binary(t)
	var fault string // what went wrong in the fault goroutine; read after Run
	res := spreadtest.OpenLoop{Addr: s.Addr, Rate: 300, Duration: 6 * time.Second, Timeout: 20 * time.Second}.Run(func() {
		if out, err := exec.Command(bin, "scale", "--addr", s.Addr, "1").CombinedOutput(); err != nil {
			fault = fmt.Sprintf("scale 1: %v: %s", err, out)
			return
		}
		deadline := time.Now().Add(10 * time.Second)
		for len(s.Workers()) != 1 {
			if time.Now().After(deadline) {
				fault = fmt.Sprintf("%d workers 10s after scale 1, want 1", len(s.Workers()))
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := syscall.Kill(s.Pid(), syscall.SIGTERM); err != nil {
			fault = fmt.Sprintf("SIGTERM: %v", err)
		}
	})
	t.Logf("sent %d, answered %d, reset %d, refused %d, timed out %d, other %d",
		res.Sent, len(res.Latencies), res.Reset, res.Refused, res.Timeout, res.Other)
	if fault != "" {
		t.Fatal(fault)
	}
	if code := s.Wait(20 * time.Second); code != 0 {
		t.Fatalf("supervisor exited %d after SIGTERM, want 0", code)
	}
	if res.Refused == 0 || len(res.Latencies) < 300 {
		t.Fatalf("%d answered and %d refused: the stop did not happen under load", len(res.Latencies), res.Refused)
	}
	if res.Reset != 0 || res.Timeout != 0 || res.Other != 0 {
		t.Fatalf("%d reset, %d timed out, %d other failures across scale 3 -> 1 and SIGTERM; want none", res.Reset, res.Timeout, res.Other)
	}
}
