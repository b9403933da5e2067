package supervisor

import (
	"errors"
	"io"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sendEmptyWithFD sends a message of zero bytes carrying fd, with a raw
// sendmsg(2): Go's senders (WriteMsgUnix, unix.Sendmsg) add a byte to an
// empty message on a seqpacket socket.
func sendEmptyWithFD(t *testing.T, sock, fd int) {
	t.Helper()
	oob := unix.UnixRights(fd)
	var msg unix.Msghdr
	msg.Control = &oob[0]
	msg.SetControllen(len(oob))
	if _, _, e := unix.Syscall(unix.SYS_SENDMSG, uintptr(sock), uintptr(unsafe.Pointer(&msg)), 0); e != 0 {
		t.Fatalf("sendmsg: %v", e)
	}
}

func TestAnEmptyMessageCarryingADescriptorIsEOF(t *testing.T) {
	parent, child := channelPair(t)
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	raw, err := child.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	raw.Control(func(fd uintptr) { sendEmptyWithFD(t, int(fd), int(f.Fd())) })
	m, err := receive(parent, make([]byte, 64), make([]byte, oobSpace))
	t.Logf("message %+v, error %v", m, err)
	if !errors.Is(err, io.EOF) {
		t.Fatalf("an empty message with a descriptor: %+v, %v; want EOF", m, err)
	}
}
