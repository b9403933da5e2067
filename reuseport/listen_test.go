package reuseport

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func listen(t *testing.T, addr string) *net.TCPListener {
	t.Helper()
	l, err := Listen(t.Context(), addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// listenFile is listen plus the listener's socket as a file (File), closed
// when the test ends.
func listenFile(t *testing.T, addr string) (*net.TCPListener, *os.File) {
	t.Helper()
	l := listen(t, addr)
	f, err := File(l)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return l, f
}

func port(l net.Listener) int { return l.Addr().(*net.TCPAddr).Port }

// sockoptInt reads an integer socket option without touching blocking mode.
func sockoptInt(t *testing.T, c syscall.Conn, level, opt int) int {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var optErr error
	if err := rc.Control(func(fd uintptr) { v, optErr = unix.GetsockoptInt(int(fd), level, opt) }); err != nil {
		t.Fatal(err)
	}
	if optErr != nil {
		t.Fatal(optErr)
	}
	return v
}

func TestTwoListensShareOnePort(t *testing.T) {
	first := listen(t, "127.0.0.1:0")
	second := listen(t, fmt.Sprintf("127.0.0.1:%d", port(first)))
	if port(second) != port(first) {
		t.Fatalf("second listener on port %d, want %d", port(second), port(first))
	}
}

func TestListenFailsWhenPlainListenerHoldsPort(t *testing.T) {
	plain, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()

	addr := plain.Addr().String()
	l, err := Listen(t.Context(), addr)
	if err == nil {
		l.Close()
		t.Fatalf("Listen(%s) succeeded while a plain listener holds the port", addr)
	}
	want := "bind " + addr + ": address already in use"
	if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("errors.Is(%v, EADDRINUSE) = false", err)
	}
}

// Go 1.24+ would make an MPTCP socket (IPPROTO_MPTCP) where the kernel
// offers it; spread's groups are plain TCP.
func TestListenUsesPlainTCPNotMPTCP(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	if got := sockoptInt(t, l, unix.SOL_SOCKET, unix.SO_PROTOCOL); got != unix.IPPROTO_TCP {
		t.Fatalf("SO_PROTOCOL = %d, want IPPROTO_TCP (%d)", got, unix.IPPROTO_TCP)
	}
	if got := sockoptInt(t, l, unix.SOL_SOCKET, unix.SO_REUSEPORT); got != 1 {
		t.Fatalf("SO_REUSEPORT = %d, want 1", got)
	}
}

// The kernel keeps a socket, and the connections queued on it, while any
// descriptor for it is open: this is what lets a supervisor keep a worker's
// queue alive across the worker's death.
func TestFileKeepsQueueAfterListenerCloses(t *testing.T) {
	l, f := listenFile(t, "127.0.0.1:0")
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial after closing the original listener: %v", err)
	}
	defer c.Close()

	rebuilt, err := FromFile(f)
	if err != nil {
		t.Fatal(err)
	}
	defer rebuilt.Close()
	rebuilt.SetDeadline(time.Now().Add(5 * time.Second))
	accepted, err := rebuilt.Accept()
	if err != nil {
		t.Fatalf("accept on the rebuilt listener: %v", err)
	}
	accepted.Close()
}

// exec.Cmd calls Fd on ExtraFiles. A dup shares O_NONBLOCK with the original,
// so the duplicate must not switch it to blocking mode.
func TestFileKeepsListenerNonBlockingAfterFd(t *testing.T) {
	l, f := listenFile(t, "127.0.0.1:0")
	_ = f.Fd()

	rc, err := l.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var flags int
	var flErr error
	rc.Control(func(fd uintptr) { flags, flErr = unix.FcntlInt(fd, unix.F_GETFL, 0) })
	if flErr != nil {
		t.Fatal(flErr)
	}
	if flags&unix.O_NONBLOCK == 0 {
		t.Fatal("listener turned blocking after Fd on its duplicate")
	}
}

func TestFromFileRefusesNonListeners(t *testing.T) {
	l := listen(t, "127.0.0.1:0")
	conn, err := net.DialTimeout("tcp", l.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	connFile, err := conn.(*net.TCPConn).File()
	if err != nil {
		t.Fatal(err)
	}
	defer connFile.Close()

	regular, err := os.CreateTemp(t.TempDir(), "regular")
	if err != nil {
		t.Fatal(err)
	}
	defer regular.Close()

	unixListener, err := net.Listen("unix", filepath.Join(t.TempDir(), "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer unixListener.Close()
	unixFile, err := unixListener.(*net.UnixListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer unixFile.Close()

	for name, f := range map[string]*os.File{
		"connected tcp socket": connFile,
		"regular file":         regular,
		"unix listener":        unixFile,
	} {
		t.Run(name, func(t *testing.T) {
			l, err := FromFile(f)
			if err == nil {
				l.Close()
				t.Fatal("FromFile succeeded")
			}
			t.Log(err)
		})
	}
}

func TestValidateAddr(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want string // "" for valid; otherwise the whole error
	}{
		{":8000", ""},
		{"127.0.0.1:8000", ""},
		{"[::1]:8000", ""},
		{"localhost:0", ""},
		{"0.0.0.0:65535", ""},
		{"nonsense", `invalid address "nonsense": missing port`},
		{"127.0.0.1:http", `invalid address "127.0.0.1:http": port "http" is not a number`},
		{":99999", `invalid address ":99999": port 99999 out of range 0-65535`},
		{":-1", `invalid address ":-1": port "-1" is not a number`},
		{"127.0.0.1:", `invalid address "127.0.0.1:": missing port`},
		{"", `invalid address "": missing port`},
		{"::1:8000", `invalid address "::1:8000": too many colons (write an IPv6 address in brackets, as in "[::1]:8000")`},
		{"no-such-host.invalid:80", `invalid address "no-such-host.invalid:80": host "no-such-host.invalid" does not resolve`},
	} {
		err := ValidateAddr(tc.addr)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("ValidateAddr(%q) = %v, want ok", tc.addr, err)
		case tc.want != "" && err == nil:
			t.Errorf("ValidateAddr(%q) ok, want %q", tc.addr, tc.want)
		case tc.want != "" && err.Error() != tc.want:
			t.Errorf("ValidateAddr(%q) = %q, want %q", tc.addr, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "\n"):
			t.Errorf("ValidateAddr(%q) error spans lines: %q", tc.addr, err)
		}
	}
}
