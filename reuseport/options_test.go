package reuseport

import (
	"context"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestListenWithSetsDeferAcceptAndBacklog(t *testing.T) {
	ln, err := ListenWith(context.Background(), "127.0.0.1:0", Options{DeferAccept: time.Second, Backlog: 128})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	rc, err := ln.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var deferSecs int
	var info *unix.TCPInfo
	var gerr, ierr error
	rc.Control(func(fd uintptr) {
		deferSecs, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT)
		info, ierr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
	})
	if gerr != nil || ierr != nil {
		t.Fatal(gerr, ierr)
	}
	// The kernel stores the deferral in SYN-ACK retransmits and reports it
	// back rounded up to a whole timeout: non-zero is what matters.
	if deferSecs == 0 {
		t.Fatal("TCP_DEFER_ACCEPT is off")
	}
	// For a listener, tcpi_sacked is the backlog limit.
	if info.Sacked != 128 {
		t.Fatalf("backlog %d, want 128", info.Sacked)
	}

	plain, err := Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	prc, _ := plain.SyscallConn()
	prc.Control(func(fd uintptr) {
		deferSecs, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_DEFER_ACCEPT)
	})
	if gerr != nil || deferSecs != 0 {
		t.Fatalf("plain Listen: TCP_DEFER_ACCEPT = %d, %v; want off", deferSecs, gerr)
	}
}
