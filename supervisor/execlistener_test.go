package supervisor

import (
	"net"
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

func TestExecListenerBindsAndHandsADuplicateToTheSupervisor(t *testing.T) {
	parent, child, err := newChannel()
	if err != nil {
		t.Fatal(err)
	}
	defer parent.Close()
	ch, err := fileConn(child)
	child.Close()
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()

	if fd, err := execListener(ch, workerSpec{Inherit: true}); err != nil || fd != listenerFD {
		t.Fatalf("an inheriting worker's listener: fd %d, %v; want fd %d", fd, err, listenerFD)
	}

	fd, err := execListener(ch, workerSpec{Addr: "127.0.0.1:0"})
	if err != nil || fd < 0 {
		t.Fatalf("execListener: fd %d, %v", fd, err)
	}
	defer unix.Close(fd)
	m, err := receive(parent, make([]byte, 2*maxMessage), make([]byte, oobSpace))
	if err != nil || m.word != msgSocket || m.fd < 0 {
		t.Fatalf("the supervisor got %+v, %v; want the socket", m, err)
	}
	defer unix.Close(m.fd)
	// Both descriptors are the same listening socket.
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*unix.SockaddrInet4).Port
	if got, _ := unix.Getsockname(m.fd); got.(*unix.SockaddrInet4).Port != port || port == 0 {
		t.Fatalf("the supervisor's copy is bound to %v, the worker's to port %d", got, port)
	}
	c, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("nothing listens on the worker's descriptor: %v", err)
	}
	c.Close()

	// A spec whose address cannot be bound fails and sends nothing.
	if fd, err := execListener(ch, workerSpec{Addr: "256.0.0.1:0"}); err == nil || fd != -1 {
		t.Fatalf("execListener on a bad address: fd %d, %v; want -1 and an error", fd, err)
	}
}

func TestCloseOnExecAboveMarksOnlyTheDescriptorsAboveN(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// unix.Dup makes descriptors without close-on-exec.
	low, err := unix.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(low)
	high, err := unix.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(high)
	if high <= low {
		t.Skipf("descriptors %d, %d not in order", low, high)
	}
	if err := closeOnExecAbove(low); err != nil {
		t.Fatal(err)
	}
	flags := func(fd int) int {
		v, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if flags(high)&unix.FD_CLOEXEC == 0 {
		t.Errorf("fd %d above %d not marked close-on-exec", high, low)
	}
	if flags(low)&unix.FD_CLOEXEC != 0 {
		t.Errorf("fd %d (n itself) marked close-on-exec", low)
	}
}

func TestExitStringForATableCell(t *testing.T) {
	for _, c := range []struct {
		e    *Exit
		want string
	}{
		{nil, "-"},
		{&Exit{Reason: "crashed", Code: 2}, "crashed (code 2)"},
		{&Exit{Reason: "crashed", Code: -1, Signal: "SIGSEGV"}, "crashed (SIGSEGV)"},
		{&Exit{Reason: "crashed", Code: 2, Detail: "exited with code 2"}, "exited with code 2"},
	} {
		if got := c.e.String(); got != c.want {
			t.Errorf("%+v.String() = %q, want %q", c.e, got, c.want)
		}
	}
}
