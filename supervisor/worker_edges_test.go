package supervisor

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests run the worker's side of the channel in the test process:
// the ready report, the watch on the supervisor, and the heartbeat.

func TestWorkerListenerBindsAndReportsReadyWithTheSocket(t *testing.T) {
	parent, child := channelPair(t)
	ln, err := workerListener(child, workerSpec{Addr: "127.0.0.1:0"}, listenerFD)
	if err != nil {
		t.Fatalf("workerListener: %v", err)
	}
	defer ln.Close()
	m := recvOne(t, parent)
	if m.word != msgReady || m.arg != ln.Addr().String() || m.fd < 0 {
		t.Fatalf("received %+v, want ready naming %s with the socket", m, ln.Addr())
	}
	unix.Close(m.fd)
}

func TestWatchSupervisorWaitsForEOFNotForMessages(t *testing.T) {
	parent, child := channelPair(t)
	gone := make(chan struct{})
	go watchSupervisor(child, gone)
	if err := send(parent, "hello", "", nil); err != nil {
		t.Fatal(err)
	}
	// Once the watcher has read the message, gone must still be open.
	raw, err := child.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		var queued int
		raw.Control(func(fd uintptr) { queued, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ) })
		if queued == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the watcher did not read the message within 10s")
		}
	}
	select {
	case <-gone:
		t.Fatal("gone closed on a message, with the supervisor's end still open")
	default:
	}
	parent.Close()
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("gone not closed within 10s of the supervisor's end closing")
	}
}

func TestBeatSendsAtTheIntervalAndDefaultsToASecond(t *testing.T) {
	parent, child := channelPair(t)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { beat(child, 10*time.Millisecond, stop, &Counters{e: new(entry)}); close(done) }()
	start := time.Now()
	for range 2 {
		if m := recvOne(t, parent); m.word != msgBeat {
			t.Fatalf("received %+v, want beat", m)
		}
	}
	if took := time.Since(start); took > 900*time.Millisecond {
		t.Errorf("two beats at 10ms took %s", took)
	}
	close(stop)
	<-done

	// No interval: a beat a second, not a ticker of 0 (which panics).
	stop = make(chan struct{})
	done = make(chan struct{})
	go func() { beat(child, 0, stop, &Counters{e: new(entry)}); close(done) }()
	close(stop)
	<-done
}
