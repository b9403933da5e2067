package supervisor

import (
	"syscall"
	"testing"
	"time"
)

func TestStopWithoutADrainDelayStopsTheWorkersAtOnce(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 2}, always(healthy))
	h.until("every worker online", time.Second, h.online)
	h.signal(syscall.SIGTERM)
	for _, p := range h.procs.procs {
		if !p.got(syscall.SIGTERM) || p.got(syscall.SIGUSR2) {
			t.Errorf("worker %d was sent %v on a stop without drain delay, want SIGTERM at once and no SIGUSR2", p.id, p.signals)
		}
	}
	if !h.s.drain.until.IsZero() {
		t.Errorf("a drain delay runs until %v though --drain-delay is 0", h.s.drain.until)
	}
}

func TestASecondTermOrIntCutsTheDrainDelayAndNothingElseDoes(t *testing.T) {
	for _, second := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(unixSignalName(second), func(t *testing.T) {
			h := newLoopHarness(t, Config{Workers: 2, DrainDelay: time.Minute}, always(healthy))
			h.until("every worker online", time.Second, h.online)
			h.signal(syscall.SIGTERM)
			for _, p := range h.procs.procs {
				if !p.got(syscall.SIGUSR2) || p.got(syscall.SIGTERM) {
					t.Fatalf("worker %d was sent %v at the start of the drain delay, want SIGUSR2 only", p.id, p.signals)
				}
			}
			// A reload or a log reopen asked for during the delay
			// leaves it running.
			h.signal(syscall.SIGHUP)
			h.signal(syscall.SIGUSR1)
			if h.s.drain.until.IsZero() {
				t.Fatal("SIGHUP or SIGUSR1 ended the drain delay")
			}
			for _, p := range h.procs.procs {
				if p.got(syscall.SIGTERM) {
					t.Fatalf("worker %d was stopped by SIGHUP or SIGUSR1 during the drain delay", p.id)
				}
			}
			h.signal(second)
			if !h.s.drain.until.IsZero() {
				t.Errorf("the drain delay still runs after a second %s", unixSignalName(second))
			}
			for _, p := range h.procs.procs {
				if !p.got(syscall.SIGTERM) {
					t.Errorf("worker %d was sent %v after a second %s, want SIGTERM", p.id, p.signals, unixSignalName(second))
				}
			}
		})
	}
}
