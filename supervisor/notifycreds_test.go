package supervisor

import (
	"errors"
	"os"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// senderPid believes only the kernel's SCM_CREDENTIALS, and closes any
// descriptor that came along.
func TestSenderPidReadsCredentialsAndClosesPassedDescriptors(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	dup, _ := unix.Dup(int(r.Fd()))
	creds := unix.UnixCredentials(&unix.Ucred{Pid: 4321, Uid: 0, Gid: 0})
	oob := append(append([]byte{}, creds...), unix.UnixRights(dup)...)
	if got := senderPid(oob); got != 4321 {
		t.Fatalf("senderPid = %d, want 4321", got)
	}
	if _, err := unix.FcntlInt(uintptr(dup), unix.F_GETFD, 0); !errors.Is(err, unix.EBADF) {
		t.Fatalf("a descriptor sent along was kept open (%v)", err)
	}
	if got := senderPid(unix.UnixRights()); got != 0 {
		t.Fatalf("no credentials, yet pid %d", got)
	}
	if got := senderPid(nil); got != 0 {
		t.Fatalf("nothing, yet pid %d", got)
	}
	// The same bytes at another level are not credentials.
	other := append([]byte{}, creds...)
	h := (*unix.Cmsghdr)(unsafe.Pointer(&other[0]))
	h.Level = unix.SOL_IP
	if got := senderPid(other); got != 0 {
		t.Fatalf("a SOL_IP message was read as credentials: pid %d", got)
	}
}
