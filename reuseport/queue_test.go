package reuseport

import (
	"fmt"
	"net"
	"testing"
	"time"
)

func TestListenQueueLenCountsUnacceptedConnections(t *testing.T) {
	l, f := listenFile(t, "127.0.0.1:0")

	if n, err := ListenQueueLen(f); err != nil || n != 0 {
		t.Fatalf("ListenQueueLen before any dial = %d, %v; want 0", n, err)
	}
	for range 3 {
		c, err := net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	waitFor(t, "3 connections in the accept queue", 5*time.Second, func() (bool, string) {
		n, err := ListenQueueLen(f)
		return err == nil && n == 3, fmt.Sprintf("%d, %v", n, err)
	})
}

func TestListenQueueLenRefusesConnectedSocket(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	c, err := net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	f, err := c.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := ListenQueueLen(f); err == nil {
		t.Fatalf("ListenQueueLen(connected socket) = %d, want an error", n)
	}
}

// Steering samples every slot's queue 50 times a second, so a sample must
// leave no garbage behind; and a bad descriptor is an error, not a zero.
func TestFDQueueLenAllocatesNothing(t *testing.T) {
	_, f := listenFile(t, "127.0.0.1:0")
	fd := int(f.Fd())
	var qErr error
	allocs := testing.AllocsPerRun(200, func() { _, qErr = FDQueueLen(fd) })
	if qErr != nil {
		t.Fatal(qErr)
	}
	if allocs != 0 {
		t.Errorf("FDQueueLen allocates %.1f times per call, want 0", allocs)
	}
	if n, err := FDQueueLen(-1); err == nil {
		t.Errorf("FDQueueLen(-1) = %d, nil; want an error", n)
	}
}
