package e2e

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/procfs"
	"github.com/spreadhttp/spread/internal/spreadtest"
)

// waitSpare waits until s has a spare that said it waits for a slot, and
// returns its pid.
func waitSpare(t *testing.T, s *spreadtest.Server) int {
	t.Helper()
	var pid int
	spreadtest.Eventually(t, 10*time.Second, "a spare waiting", func() bool {
		pid = s.Spare()
		for _, ev := range s.Log().Events("spare ready") {
			if p, _ := ev["pid"].(float64); pid != 0 && int(p) == pid {
				return true
			}
		}
		return false
	})
	return pid
}

// The spare, started in advance, takes the slot of a SIGKILLed worker:
// the slot's next worker is the spare's pid, it serves as that slot, it
// bears the slot's name in ps, and another spare starts.
func TestASpareTakesTheSlotOfAKilledWorker(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "2")
	pids := s.WaitOnline(2, 10*time.Second)
	spare := waitSpare(t, s)
	victim := pids[0]
	slot := -1
	for _, ev := range s.Log().Events("worker online") {
		if p, _ := ev["pid"].(float64); int(p) == victim {
			slot = int(ev["slot"].(float64))
		}
	}
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	spreadtest.Eventually(t, 10*time.Second, "the spare online in the victim's slot", func() bool {
		for _, ev := range s.Log().Events("worker online") {
			p, _ := ev["pid"].(float64)
			sl, _ := ev["slot"].(float64)
			_, down := ev["down_ms"]
			if int(p) == spare && int(sl) == slot && down {
				return true
			}
		}
		return false
	})
	if got := s.WaitOnline(2, 10*time.Second); got[0] != spare && got[1] != spare {
		t.Fatalf("workers %v after the kill, want the spare %d among them", got, spare)
	}
	want := fmt.Sprintf("%d/%d", slot, spare)
	spreadtest.Eventually(t, 10*time.Second, "the spare answering as "+want, func() bool {
		r, err := s.Get("/")
		return err == nil && r.Worker == want
	})
	name, err := procfs.ReadArg0(spare)
	if err != nil {
		t.Fatal(err)
	}
	if wantName := fmt.Sprintf("spread: worker %d %s", slot, s.Addr); name != wantName {
		t.Errorf("the spare's name is %q after it took slot %d, want %q", name, slot, wantName)
	}
	if next := waitSpare(t, s); next == spare {
		t.Errorf("the spare %d is still the spare after taking a slot", spare)
	}
}

// A stop ends the spare with the workers: nothing outlives the supervisor.
func TestStopEndsTheSpare(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "1")
	s.WaitOnline(1, 10*time.Second)
	spare := waitSpare(t, s)
	s.Signal(syscall.SIGTERM)
	if code := s.Wait(15 * time.Second); code != 0 {
		t.Fatalf("spread exited %d after SIGTERM, want 0", code)
	}
	if spreadtest.Alive(spare) {
		t.Errorf("the spare %d outlived its supervisor", spare)
	}
	if n := len(s.Log().Events("spare stopped")); n != 1 {
		t.Errorf("%d spares logged stopped, want 1", n)
	}
}

// With --spare=false a killed worker is replaced by a new process, and no
// spare runs.
func TestSpareOff(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "1", "--spare=false")
	victim := s.WaitOnline(1, 10*time.Second)[0]
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s.WaitOnline(1, 10*time.Second)
	if n := len(s.Log().Events("spare started")); n != 0 || s.Spare() != 0 {
		t.Errorf("%d spares started with --spare=false", n)
	}
}
