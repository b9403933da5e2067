package supervisor

import (
	"strings"
	"testing"
	"time"
)

// Exec workers come online by the ready rule: after the ready delay once
// they run the command (--ready=start), or on READY=1 (--ready=notify).

// neverReady is a plan whose workers never report ready on the channel,
// as an exec worker's command does not.
func neverReady(int, int) (behaviour, time.Duration) { return healthy, 0 }

func TestExecWorkerIsOnlineAfterTheReadyDelayOnceItRunsTheCommand(t *testing.T) {
	const delay = 3 * time.Second
	h := newLoopHarness(t, Config{Workers: 1, Exec: []string{"prog"}, Ready: ReadyStart, ReadyDelay: delay, StartTimeout: time.Minute}, neverReady)
	p := h.procs.procs[0]
	p.readyAt = time.Time{} // it speaks no ready message
	p.does = hangs          // nor beats
	p.deliver(message{word: msgExec, arg: "/bin/prog", fd: -1})
	h.settle()
	started := h.now
	h.until("online", time.Minute, h.online)
	if waited := h.now.Sub(started); waited < delay || waited > delay+time.Second {
		t.Fatalf("online after %s, want after the ready delay %s", waited, delay)
	}
}

func TestExecWorkerWithoutReadyNotifyFailsSayingWhy(t *testing.T) {
	const timeout = 5 * time.Second
	h := newLoopHarness(t, Config{Workers: 1, Exec: []string{"prog"}, Ready: ReadyNotify, StartTimeout: timeout}, neverReady)
	p := h.procs.procs[0]
	p.readyAt = time.Time{}
	p.does = hangs
	p.deliver(message{word: msgExec, arg: "/bin/prog", fd: -1})
	h.settle()
	h.until("the worker killed", time.Minute, func() bool { return p.gone })
	if !strings.Contains(h.s.lastError, "prog sent no READY=1 to $NOTIFY_SOCKET within the start timeout (5s)") {
		t.Fatalf("last error %q, want it to name the missing READY=1", h.s.lastError)
	}
}
