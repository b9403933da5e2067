package handler

import (
	"net"
	"testing"
	"time"
)

// The drain's thresholds are exact: a connection is closable from the
// moment it has been idle for idleSettle (or new for newConnGrace), not a
// nanosecond before, and never while active. net.Pipe has no socket, so
// no bytes are pending.
func TestClosableHonoursTheSettleAndGraceTimesExactly(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	c := &conn{Conn: a}
	const since = int64(time.Hour)
	for _, tc := range []struct {
		st   connState
		age  time.Duration
		want bool
	}{
		{stateIdle, idleSettle - 1, false},
		{stateIdle, idleSettle, true},
		{stateIdle, 10 * idleSettle, true},
		{stateNew, newConnGrace - 1, false},
		{stateNew, newConnGrace, true},
		{stateNew, idleSettle, false}, // a new connection gets the longer grace
		{stateActive, time.Hour, false},
	} {
		c.state.Store(int32(tc.st))
		c.since.Store(since)
		if got := closable(c, since+int64(tc.age)); got != tc.want {
			t.Errorf("state %d after %v: closable = %v, want %v", tc.st, tc.age, got, tc.want)
		}
	}
}

func TestSweepCountsWhatRemainsAndSkipsClosedConns(t *testing.T) {
	table := newConnTable(&countingRecorder{})
	a, b := net.Pipe()
	defer b.Close()
	c := table.add(a)
	c.setState(stateIdle)
	if n := table.sweep(monotime() + int64(idleSettle)); n != 1 || !c.closed.Load() {
		t.Fatalf("sweep past the settle time: %d left, closed %v; want the conn closed and still counted", n, c.closed.Load())
	}
	table.closed(c)
	if n := table.sweep(monotime()); n != 0 {
		t.Fatalf("%d conns left after the engine reported the last one closed", n)
	}
}

// Only bytes of a request make a connection active: a read that returns
// none (the client closed) leaves it idle for the drain to close.
func TestReadMarksActiveOnlyWhenBytesArrive(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	c := &conn{Conn: a}
	c.setState(stateIdle)
	b.Close()
	if n, err := c.Read(make([]byte, 8)); n != 0 || err == nil {
		t.Fatalf("read from a closed peer: %d, %v", n, err)
	}
	if st := connState(c.state.Load()); st != stateIdle {
		t.Fatalf("state after an empty read = %d, want idle", st)
	}
	a2, b2 := net.Pipe()
	defer a2.Close()
	defer b2.Close()
	c2 := &conn{Conn: a2}
	c2.setState(stateIdle)
	go b2.Write([]byte("G"))
	if n, _ := c2.Read(make([]byte, 8)); n != 1 || connState(c2.state.Load()) != stateActive {
		t.Fatalf("a read of %d request bytes left state %d, want active", n, c2.state.Load())
	}
}
