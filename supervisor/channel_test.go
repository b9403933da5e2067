package supervisor

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// channelPair is both ends of a new channel as connections.
func channelPair(t *testing.T) (parent, child *net.UnixConn) {
	t.Helper()
	parent, f, err := newChannel()
	if err != nil {
		t.Fatal(err)
	}
	child, err = fileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { parent.Close(); child.Close() })
	return parent, child
}

func recvOne(t *testing.T, c *net.UnixConn) message {
	t.Helper()
	m, err := receive(c, make([]byte, 2*maxMessage), make([]byte, oobSpace))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestChannelCarriesOneMessagePerSend(t *testing.T) {
	parent, child := channelPair(t)
	for _, c := range []struct{ word, arg, wantArg string }{
		{msgBeat, "", ""},
		{msgFail, "bind: address in use", "bind: address in use"},
		{msgFail, "two\nlines", "two lines"},
		{msgVersion, "v1.2.3", "v1.2.3"},
	} {
		if err := send(child, c.word, c.arg, nil); err != nil {
			t.Fatal(err)
		}
		m := recvOne(t, parent)
		if m.word != c.word || m.arg != c.wantArg || m.fd != -1 {
			t.Errorf("sent %q %q, received %+v", c.word, c.arg, m)
		}
	}
}

func TestChannelCutsALongMessageAtMaxMessage(t *testing.T) {
	parent, child := channelPair(t)
	if err := send(child, msgFail, strings.Repeat("x", 2*maxMessage), nil); err != nil {
		t.Fatal(err)
	}
	m := recvOne(t, parent)
	if got := len(m.word) + 1 + len(m.arg); got != maxMessage {
		t.Fatalf("a long message arrived as %d bytes, want %d", got, maxMessage)
	}
	if err := send(child, msgFail, strings.Repeat("y", maxMessage-len(msgFail)-1), nil); err != nil {
		t.Fatal(err)
	}
	if m := recvOne(t, parent); len(m.arg) != maxMessage-len(msgFail)-1 {
		t.Fatalf("a message of exactly maxMessage bytes was cut to an argument of %d", len(m.arg))
	}
}

func TestChannelPassesADescriptorCloseOnExec(t *testing.T) {
	parent, child := channelPair(t)
	f, err := os.Create(filepath.Join(t.TempDir(), "passed"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := send(child, msgReady, "", f); err != nil {
		t.Fatal(err)
	}
	m := recvOne(t, parent)
	if m.word != msgReady || m.fd < 0 {
		t.Fatalf("received %+v, want ready with a descriptor", m)
	}
	// Its identity first: closing a descriptor that is not the one sent
	// (stdout, say) would break the rest of the run.
	var a, b unix.Stat_t
	if unix.Fstat(m.fd, &a) != nil || unix.Fstat(int(f.Fd()), &b) != nil || a.Dev != b.Dev || a.Ino != b.Ino {
		t.Fatalf("the received descriptor %d is not the file sent", m.fd)
	}
	defer unix.Close(m.fd)
	flags, err := unix.FcntlInt(uintptr(m.fd), unix.F_GETFD, 0)
	if err != nil || flags&unix.FD_CLOEXEC == 0 {
		t.Fatalf("received descriptor flags %#x (%v): not close-on-exec", flags, err)
	}
}

func TestParseRightsKeepsOneDescriptorAndClosesTheRest(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	dupR, _ := unix.Dup(int(r.Fd()))
	dupW, _ := unix.Dup(int(w.Fd()))
	fd, err := parseRights(unix.UnixRights(dupR, dupW))
	if err != nil || fd != dupR {
		t.Fatalf("parseRights = %d, %v; want the first descriptor %d", fd, err, dupR)
	}
	defer unix.Close(fd)
	if _, err := unix.FcntlInt(uintptr(dupW), unix.F_GETFD, 0); !errors.Is(err, unix.EBADF) {
		t.Fatalf("the second descriptor is still open (%v)", err)
	}
	if fd, err := parseRights(nil); fd != -1 || err != nil {
		t.Fatalf("parseRights of nothing = %d, %v", fd, err)
	}
}

func TestChannelEndsInEOFWhenThePeerCloses(t *testing.T) {
	parent, child := channelPair(t)
	child.Close()
	_, err := receive(parent, make([]byte, 64), make([]byte, oobSpace))
	if !errors.Is(err, io.EOF) {
		t.Fatalf("receive after the peer closed: %v, want EOF", err)
	}
}

func TestFileConnWantsAUnixSocket(t *testing.T) {
	_, f := loopbackListenerFile(t)
	if _, err := fileConn(f); err == nil || !strings.Contains(err.Error(), "not a unix socket") {
		t.Fatalf("fileConn of a TCP listener: %v", err)
	}
	plain, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := fileConn(plain); err == nil {
		t.Fatal("fileConn of /dev/null succeeded")
	}
}
