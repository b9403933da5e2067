package supervisor

import (
	"io"
	"net"
	"os/exec"
	"testing"
	"time"

	"github.com/spreadhttp/spread/reuseport"
)

// reader is a real process whose read bytes (/proc/PID/io rchar) grow
// only when the test writes to its stdin: a stand-in for a worker that is
// or is not taking work, measured the way the detector measures workers.
func reader(t *testing.T) (pid int, feed func()) {
	t.Helper()
	cmd := exec.Command("cat")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		in.Close()
		_ = cmd.Wait()
	})
	feed = func() {
		before := readBytes(cmd.Process.Pid)
		if _, err := in.Write([]byte("request\n")); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(5 * time.Second)
		for readBytes(cmd.Process.Pid) == before {
			if time.Now().After(deadline) {
				t.Fatal("cat did not read what was written")
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	if readBytes(cmd.Process.Pid) < 0 {
		t.Fatal("cannot read /proc/PID/io of a child: the detector would judge by the queue alone")
	}
	return cmd.Process.Pid, feed
}

const testTimeout = time.Second

func TestQueueStuckForTheTimeoutWithNothingReadIsHung(t *testing.T) {
	pid, _ := reader(t)
	var q queueWatch
	t0 := time.Now()
	for i, at := range []time.Duration{0, 300 * time.Millisecond, 600 * time.Millisecond, 900 * time.Millisecond, testTimeout} {
		if q.observe(t0.Add(at), 3+i, pid, testTimeout, readBytes) {
			t.Fatalf("hung after %s, before the timeout", at)
		}
	}
	if !q.observe(t0.Add(testTimeout+time.Millisecond), 8, pid, testTimeout, readBytes) {
		t.Fatal("a queue stuck for longer than the timeout, with nothing read, is not hung")
	}
}

func TestQueueThatShrinksOrEmptiesIsNeverHung(t *testing.T) {
	pid, _ := reader(t)
	var q queueWatch
	t0 := time.Now()
	// The queue grows and shrinks: a worker accepting, slower than the
	// arrivals at times.
	lengths := []int{2, 5, 4, 9, 3, 0, 4, 6, 5, 7, 6, 7, 6}
	for i, n := range lengths {
		at := time.Duration(i) * 400 * time.Millisecond
		if q.observe(t0.Add(at), n, pid, testTimeout, readBytes) {
			t.Fatalf("reading %d (queue %d at %s) judged hung", i, n, at)
		}
	}
}

func TestFullQueueOfAWorkerThatStillReadsIsNotHung(t *testing.T) {
	pid, feed := reader(t)
	var q queueWatch
	t0 := time.Now()
	// A full queue reads the same at every sample, but the worker reads
	// its requests: overloaded, not hung.
	for i := range 12 {
		at := time.Duration(i) * 300 * time.Millisecond
		if q.observe(t0.Add(at), 128, pid, testTimeout, readBytes) {
			t.Fatalf("judged hung at %s while reading", at)
		}
		feed()
	}
	// Then it stops reading: hung within one timeout and a sample.
	hung := false
	for i := 12; i < 20 && !hung; i++ {
		hung = q.observe(t0.Add(time.Duration(i)*300*time.Millisecond), 128, pid, testTimeout, readBytes)
	}
	if !hung {
		t.Fatal("a full queue whose worker stopped reading was never judged hung")
	}
}

func TestNewWorkerStartsAFreshJudgement(t *testing.T) {
	pid, _ := reader(t)
	other, _ := reader(t)
	var q queueWatch
	t0 := time.Now()
	q.observe(t0, 5, pid, testTimeout, readBytes)
	if q.observe(t0.Add(2*testTimeout), 5, other, testTimeout, readBytes) {
		t.Fatal("a replacement was judged on its predecessor's time")
	}
}

func TestUnreadableProcessLeavesTheQueueToDecide(t *testing.T) {
	var q queueWatch
	t0 := time.Now()
	never := func(int) int64 { return -1 }
	q.observe(t0, 5, 1, testTimeout, never)
	if !q.observe(t0.Add(2*testTimeout), 5, 1, testTimeout, never) {
		t.Fatal("a stuck queue was not hung when /proc/PID/io was unreadable")
	}
}

// TestSlotSocketQueueLengthCountsUnacceptedConnections checks the reading
// the detector and status rely on, on a real listening socket.
func TestSlotSocketQueueLengthCountsUnacceptedConnections(t *testing.T) {
	ln, err := reuseport.ListenWith(t.Context(), "127.0.0.1:0", reuseport.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := reuseport.File(ln)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	k := &slotSocket{fd: int(f.Fd())}
	if n, err := k.queueLen(); err != nil || n != 0 {
		t.Fatalf("queue of a new socket = %d, %v; want 0", n, err)
	}
	for range 3 {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, err := k.queueLen()
		if err != nil {
			t.Fatal(err)
		}
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("queue = %d after 3 connections, want 3", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
