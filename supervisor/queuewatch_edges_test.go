package supervisor

import (
	"net"
	"testing"
	"time"

	"github.com/spreadhttp/spread/reuseport"
)

func TestSampleIntervalIsAnEighthOfTheTimeoutWithinBounds(t *testing.T) {
	for _, tc := range []struct {
		timeout, quarantine time.Duration
		steer               bool
		want                time.Duration
	}{
		{timeout: Off, want: time.Second},
		{timeout: 2 * time.Second, want: 250 * time.Millisecond},
		{timeout: 100 * time.Millisecond, want: 50 * time.Millisecond},
		{timeout: 20 * time.Second, want: time.Second},
		{timeout: Off, quarantine: 250 * time.Millisecond, steer: true, want: 50 * time.Millisecond},
		{timeout: Off, quarantine: 20 * time.Millisecond, steer: true, want: 10 * time.Millisecond},
		{timeout: Off, quarantine: 10 * time.Second, steer: true, want: time.Second},
		{timeout: 2 * time.Second, quarantine: 10 * time.Second, steer: true, want: 250 * time.Millisecond},
		{timeout: 2 * time.Second, quarantine: 100 * time.Millisecond, steer: false, want: 250 * time.Millisecond},
	} {
		s := &supervisor{cfg: Config{WorkerTimeout: tc.timeout, SteerQuarantine: tc.quarantine}}
		if tc.steer {
			s.steer = &reuseport.Steering{}
		}
		if got := s.sampleInterval(); got != tc.want {
			t.Errorf("sample interval for worker timeout %s, quarantine %s, steering %v: %s, want %s",
				tc.timeout, tc.quarantine, tc.steer, got, tc.want)
		}
	}
}

func TestQueuesAreNotSampledWithoutATimeoutOrSteering(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1, WorkerTimeout: Off}, always(healthy))
	h.s.sampleQueues(h.now)
	if !h.s.nextSample.IsZero() {
		t.Fatalf("next sample due at %v with no worker timeout and no steering, want none", h.s.nextSample)
	}
}

// heldSocket gives slot sl a listening socket, as the supervisor holds
// one, with queued connections that nobody accepts.
func heldSocket(t *testing.T, sl *slot, queued int) {
	t.Helper()
	ln, f := loopbackListenerFile(t)
	for range queued {
		c, err := net.Dial("tcp4", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	sl.socket = &slotSocket{fd: int(f.Fd())}
	if n := sl.queueLen(); n != queued {
		t.Fatalf("slot %d's queue holds %d, want %d", sl.index, n, queued)
	}
}

func TestWithoutSteeringAStuckQueueTakesNoSlotOutOfSelection(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 2, WorkerTimeout: Off}, always(healthy))
	h.until("every worker online", time.Second, h.online)
	heldSocket(t, h.s.slots[0], 1)
	heldSocket(t, h.s.slots[1], 0)
	stuck := h.s.slots[0]
	h.s.sampleQueue(stuck, h.now)
	h.s.sampleQueue(stuck, h.now.Add(h.s.cfg.SteerQuarantine+time.Second))
	if stuck.steer != (quarantine{}) {
		t.Fatalf("steering is off, yet slot 0's quarantine state is %+v", stuck.steer)
	}
}

func TestAProcessThatBecomesReadableIsJudgedAfresh(t *testing.T) {
	reads := []int64{-1, 0}
	read := func(int) int64 {
		r := reads[0]
		if len(reads) > 1 {
			reads = reads[1:]
		}
		return r
	}
	var q queueWatch
	start := time.Unix(1000, 0)
	if q.observe(start, 3, 42, testTimeout, read) {
		t.Fatal("hung at the first reading")
	}
	// /proc/PID/io could not be read at the start and can now: that is
	// news of the process, not proof that it read nothing.
	if q.observe(start.Add(testTimeout+time.Millisecond), 3, 42, testTimeout, read) {
		t.Fatal("judged hung though its reads could not be compared")
	}
}

func TestNotesWithoutStoppingKeepAWorkerOnline(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1}, always(healthy))
	h.until("every worker online", time.Second, h.online)
	pid := h.current(0)
	w := h.s.workers[pid]
	for _, fields := range []map[string]string{{"WATCHDOG": "1"}, {"STATUS": "busy"}, {"STOPPING": "0"}} {
		h.s.onNote(note{pid: pid, fields: fields})
		if w.state != stateOnline {
			t.Fatalf("state %s after a note of %v, want still online", w.state, fields)
		}
	}
}
