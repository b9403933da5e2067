package handler

import (
	"net"
	"testing"
)

// memConn is a connection whose Read returns at once, so that what is
// measured is the bookkeeping around it, not a socket.
type memConn struct{ net.Conn }

func (memConn) Read(p []byte) (int, error) { return len(p), nil }
func (memConn) Close() error               { return nil }

// requestBookkeeping is what spread adds to one keep-alive request, in the
// order the engines do it: the conn wrapper's Read, the ConnState events
// StateActive and StateIdle, and the count of the answer.
func requestBookkeeping(t *connTable, c *conn, rec Recorder, buf []byte) {
	_, _ = c.Read(buf)
	t.active(c)
	rec.RequestDone(200)
	t.idle(c)
}

// connBookkeeping is what spread adds to one connection: the wrapper and
// its place in the table at Accept, then StateNew and StateClosed.
func connBookkeeping(t *connTable) {
	c := t.add(memConn{})
	t.opened(c)
	t.closed(c)
}

func TestRequestBookkeepingAllocatesNothing(t *testing.T) {
	table := newConnTable(&countingRecorder{})
	c := table.add(memConn{})
	buf := make([]byte, 64)
	if allocs := testing.AllocsPerRun(1000, func() { requestBookkeeping(table, c, table.rec, buf) }); allocs != 0 {
		t.Fatalf("the bookkeeping of a keep-alive request allocates %v times, want 0", allocs)
	}
	// One allocation per connection: the wrapper the engines serve.
	if allocs := testing.AllocsPerRun(1000, func() { connBookkeeping(table) }); allocs > 1 {
		t.Fatalf("the bookkeeping of a connection allocates %v times, want at most 1 (the wrapper)", allocs)
	}
	if n := table.len(); n != 1 {
		t.Fatalf("the table holds %d connections after the closed ones left, want 1", n)
	}
}

// BenchmarkBookkeeping is the accept and drain bookkeeping spread adds to
// the engines: per keep-alive request, per connection, and one drain sweep
// over 64 connections that are all busy (the sweep's worst case: each is
// looked at and none closed).
func BenchmarkBookkeeping(b *testing.B) {
	b.Run("per-request", func(b *testing.B) {
		table := newConnTable(&countingRecorder{})
		c := table.add(memConn{})
		buf := make([]byte, 64)
		b.ReportAllocs()
		for b.Loop() {
			requestBookkeeping(table, c, table.rec, buf)
		}
	})
	b.Run("per-connection", func(b *testing.B) {
		table := newConnTable(&countingRecorder{})
		b.ReportAllocs()
		for b.Loop() {
			connBookkeeping(table)
		}
	})
	b.Run("sweep-64", func(b *testing.B) {
		table := newConnTable(&countingRecorder{})
		for range 64 {
			table.active(table.add(memConn{}))
		}
		b.ReportAllocs()
		for b.Loop() {
			table.sweep(monotime())
		}
	})
}
