package supervisor

import (
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These drills run the old and the new supervisor's sides of an upgrade's
// handover on fake workers, with no second process: the successor is a
// stand-in exec.Cmd whose pid no process has.

// fakeUpgrade marks h's supervisor as upgrading to a successor of pid,
// and returns the channel its caller's answer comes on.
func (h *loopHarness) fakeUpgrade(pid int) chan UpgradeResult {
	reply := make(chan UpgradeResult, 1)
	h.s.upgrade = &upgradeState{cmd: &exec.Cmd{Process: &os.Process{Pid: pid}}, deadline: h.now.Add(time.Minute),
		waiters: []chan<- UpgradeResult{reply}}
	return reply
}

// answer is the upgrade's answer, which the loop's code gives before it
// returns; none is a failure, not a wait.
func answer(t *testing.T, reply chan UpgradeResult) UpgradeResult {
	t.Helper()
	select {
	case res := <-reply:
		return res
	default:
		t.Fatal("the upgrade got no answer")
		return UpgradeResult{}
	}
}

func TestUpgradeSuccessorExitingEarlyFailsTheUpgradeAndKeepsServing(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1}, always(healthy))
	h.until("the worker online", time.Second, h.online)
	reply := h.fakeUpgrade(fakePidBase - 1)
	h.s.upgradeExited(fakePidBase-2, nil) // not our successor
	h.s.upgradeReady(fakePidBase - 2)
	if h.s.upgrade == nil || len(reply) != 0 {
		t.Fatal("another process's exit or ready ended the upgrade")
	}
	h.s.upgradeExited(fakePidBase-1, errors.New("exit status 3"))
	res := answer(t, reply)
	if !strings.Contains(res.Error, "exited before it was ready (exit status 3)") || res.Pid != 0 {
		t.Fatalf("upgrade result %+v, want a failure carrying the exit", res)
	}
	if h.s.upgrade != nil || h.s.stopping {
		t.Fatalf("after a failed upgrade: upgrade %v, stopping %v; want neither", h.s.upgrade, h.s.stopping)
	}
	reply = h.fakeUpgrade(fakePidBase - 1)
	h.s.upgradeExited(fakePidBase-1, nil)
	if res := answer(t, reply); res.Error != "the new supervisor exited before it was ready" {
		t.Fatalf("upgrade result %+v, want a failure without a cause", res)
	}
}

func TestUpgradeSuccessorReadyHandsOverAndStops(t *testing.T) {
	h, c := controlHarness(t, Config{Workers: 1})
	reply := h.fakeUpgrade(fakePidBase - 1)
	h.s.upgradeReady(fakePidBase - 1)
	if res := answer(t, reply); res.Error != "" || res.Pid != fakePidBase-1 {
		t.Fatalf("upgrade result %+v, want the new pid", res)
	}
	if !h.s.upgrade.done || !h.s.handedOver || !h.s.stopping {
		t.Fatalf("after the handover: done %v, handed over %v, stopping %v; want all", h.s.upgrade.done, h.s.handedOver, h.s.stopping)
	}
	// The old supervisor answers no more on the socket, and leaves its
	// file to the new one.
	if _, err := c.Status(); err == nil {
		t.Error("the old supervisor still answers on the control socket")
	}
	h.s.upgradeExited(fakePidBase-1, nil) // the new one ending later is not a failure
	if h.s.upgrade == nil {
		t.Error("the new supervisor's exit after the handover undid it")
	}
	h.s.closeHooks()
	if _, err := os.Stat(c.Path); err != nil {
		t.Errorf("the control socket file was removed after the handover: %v", err)
	}
}

func TestInheritedSpecReadsTheHandover(t *testing.T) {
	t.Setenv(upgradeEnv, "") // restored after the test
	os.Unsetenv(upgradeEnv)
	if spec, err := inheritedSpec(); spec != nil || err != nil {
		t.Fatalf("without a handover: %+v, %v", spec, err)
	}
	os.Setenv(upgradeEnv, "{")
	if _, err := inheritedSpec(); err == nil || !strings.Contains(err.Error(), upgradeEnv) {
		t.Fatalf("a bad handover: %v, want an error naming %s", err, upgradeEnv)
	}
	fd, err := unix.Dup(0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	raw, _ := json.Marshal(upgradeSpec{OldPid: 7, Ready: fd, Alive: -1, Control: -1, Metrics: -1})
	os.Setenv(upgradeEnv, string(raw))
	spec, err := inheritedSpec()
	if err != nil || spec == nil || spec.OldPid != 7 || spec.Ready != fd {
		t.Fatalf("handover read as %+v, %v", spec, err)
	}
	if _, ok := os.LookupEnv(upgradeEnv); ok {
		t.Error("the handover variable is left for the workers")
	}
	if v, _ := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); v&unix.FD_CLOEXEC == 0 {
		t.Error("an inherited descriptor is not close-on-exec")
	}
}

func TestInheritedListenerTakesTheDescriptor(t *testing.T) {
	if ln, err := inheritedListener(-1, "none"); ln != nil || err != nil {
		t.Fatalf("fd -1: %v, %v; want nothing", ln, err)
	}
	ln, f := loopbackListenerFile(t)
	got, err := inheritedListener(dupFD(t, f), "metrics listener")
	if err != nil || got == nil || got.Addr().String() != ln.Addr().String() {
		t.Fatalf("inherited listener %v, %v; want one on %s", got, err, ln.Addr())
	}
	got.Close()
	r, w, _ := os.Pipe()
	defer r.Close()
	defer w.Close()
	if _, err := inheritedListener(dupFD(t, r), "metrics listener"); err == nil || !strings.Contains(err.Error(), "metrics listener") {
		t.Fatalf("a pipe as listener: %v, want an error naming it", err)
	}
}

func TestSuccessorTellsItsPredecessorOnce(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1}, always(healthy))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	h.s.inherited = &upgradeSpec{OldPid: 1, Ready: dupFD(t, w), Alive: -1, Control: -1, Metrics: -1}
	logs := h.captureLog()
	h.s.tellPredecessor()
	h.s.tellPredecessor() // a no-op: Ready is spent
	if evs := logEvents(t, logs, "upgrade: cannot tell the old supervisor"); len(evs) != 0 {
		t.Fatalf("an error logged though the old supervisor was told: %v", evs)
	}
	if evs := logEvents(t, logs, "upgrade: took over from the old supervisor"); len(evs) != 1 {
		t.Fatalf("took over logged %d times, want once", len(evs))
	}
	w.Close()
	// EOF: tellPredecessor closed the write end; the deadline turns a
	// write end left open into a failure, not a hang.
	r.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(r) // EOF: tellPredecessor closed the write end
	if string(b) != "ready\n" || h.s.inherited.Ready != -1 {
		t.Fatalf("the predecessor read %q, Ready is %d; want one ready line and -1", b, h.s.inherited.Ready)
	}
}

func TestSuccessorFailsWhenItsPredecessorDiesFirst(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1}, always(healthy))
	h.until("the worker online", time.Second, h.online)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	h.s.inherited = &upgradeSpec{OldPid: 1, Ready: 99, Alive: dupFD(t, r), Control: -1, Metrics: -1}
	h.s.watchPredecessor()
	w.Close() // the old supervisor dies
	select {
	case call := <-h.s.calls:
		call()
	case <-time.After(10 * time.Second):
		t.Fatal("the predecessor's death went unnoticed for 10s")
	}
	if h.s.err == nil || !strings.Contains(h.s.err.Error(), "the old supervisor died before the handover") || !h.s.stopping {
		t.Fatalf("error %v, stopping %v; want the start failed", h.s.err, h.s.stopping)
	}
}

// dupFD duplicates f's descriptor for code that takes it over and closes
// it, so that f's own close cannot hit a reused number.
// loopbackListenerFile listens on a free loopback port and returns the
// listener with a file of its own of the same socket; both are closed
// when the test ends.
func loopbackListenerFile(t *testing.T) (net.Listener, *os.File) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return ln, f
}

func dupFD(t *testing.T, f *os.File) int {
	t.Helper()
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}
