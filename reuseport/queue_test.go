package reuseport

import (
	"fmt"
	"net"
	"testing"
	"time"
)

func TestListenQueueLenCountsUnacceptedConnections(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	f, err := File(l)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

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
