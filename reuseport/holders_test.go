package reuseport

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestOverlaps(t *testing.T) {
	for _, tc := range []struct {
		want, sock string
		overlap    bool
	}{
		{"127.0.0.1", "127.0.0.1", true},
		{"127.0.0.2", "127.0.0.1", false},
		{"127.0.0.1", "0.0.0.0", true},
		{"0.0.0.0", "127.0.0.1", true},
		{"::", "127.0.0.1", true}, // ":port" binds dual-stack [::]
		{"0.0.0.0", "::1", true},  // so does Go's "0.0.0.0:port"
		{"127.0.0.1", "::", true}, // [::] without IPV6_V6ONLY takes IPv4
		{"::1", "0.0.0.0", false}, // 0.0.0.0 takes no IPv6
		{"::1", "::", true},
		{"::1", "::1", true},
		{"::1", "127.0.0.1", false},
		{"127.0.0.1", "::ffff:127.0.0.1", true},
		{"127.0.0.1", "::1", false},
	} {
		if got := overlaps(netip.MustParseAddr(tc.want), netip.MustParseAddr(tc.sock)); got != tc.overlap {
			t.Errorf("overlaps(want %s, socket %s) = %v, want %v", tc.want, tc.sock, got, tc.overlap)
		}
	}
}

func pidsOf(hs []Holder) []int {
	var pids []int
	for _, h := range hs {
		pids = append(pids, h.Pid)
	}
	return pids
}

func holders(t *testing.T, addr string, exclude ...int) []Holder {
	t.Helper()
	hs, err := Holders(addr, exclude...)
	if err != nil {
		t.Fatalf("Holders(%q): %v", addr, err)
	}
	return hs
}

func TestHoldersFindsPlainListenerInThisProcess(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := port(l)
	me := os.Getpid()

	hs := holders(t, fmt.Sprintf("127.0.0.1:%d", p))
	if len(hs) != 1 || hs[0].Pid != me {
		t.Fatalf("Holders(127.0.0.1:%d) = %v, want just pid %d", p, hs, me)
	}
	if binary := filepath.Base(os.Args[0]); !strings.Contains(hs[0].Command, binary) {
		t.Errorf("Command %q does not mention the test binary %q", hs[0].Command, binary)
	}
	if want := fmt.Sprintf("127.0.0.1:%d", p); hs[0].Addr != want {
		t.Errorf("Addr %q, want %q", hs[0].Addr, want)
	}
	t.Logf("found %s", hs[0])

	for _, addr := range []string{fmt.Sprintf(":%d", p), fmt.Sprintf("localhost:%d", p), fmt.Sprintf("[::]:%d", p)} {
		if hs := holders(t, addr); !slices.Contains(pidsOf(hs), me) {
			t.Errorf("Holders(%q) = %v, want it to include pid %d", addr, hs, me)
		}
	}
	if hs := holders(t, fmt.Sprintf("127.0.0.2:%d", p)); len(hs) != 0 {
		t.Errorf("Holders(127.0.0.2:%d) = %v, want none", p, hs)
	}
	if hs := holders(t, fmt.Sprintf("127.0.0.1:%d", p), me); len(hs) != 0 {
		t.Errorf("Holders(127.0.0.1:%d, exclude %d) = %v, want none", p, me, hs)
	}
}

// The same lookup through /proc/net/tcp6, with a real kernel-written row.
func TestHoldersFindsIPv6Listener(t *testing.T) {
	l, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	defer l.Close()
	p := port(l)
	hs := holders(t, fmt.Sprintf("[::1]:%d", p))
	if len(hs) != 1 || hs[0].Pid != os.Getpid() || hs[0].Addr != fmt.Sprintf("[::1]:%d", p) {
		t.Fatalf("Holders([::1]:%d) = %v, want just pid %d on [::1]:%d", p, hs, os.Getpid(), p)
	}
	if hs := holders(t, fmt.Sprintf("127.0.0.1:%d", p)); len(hs) != 0 {
		t.Errorf("Holders(127.0.0.1:%d) = %v, want none: [::1] takes no IPv4", p, hs)
	}
}

// Go listens on ":port" with one dual-stack [::] socket, which also takes
// IPv4, so it holds 127.0.0.1:port too.
func TestHoldersFindsDualStackWildcardForIPv4(t *testing.T) {
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	p := port(l)
	if hs := holders(t, fmt.Sprintf("127.0.0.1:%d", p)); !slices.Contains(pidsOf(hs), os.Getpid()) {
		t.Fatalf("Holders(127.0.0.1:%d) = %v, want it to include pid %d", p, hs, os.Getpid())
	}
}

func TestHoldersFindsListenerInChildProcess(t *testing.T) {
	pid, p := startListenerChild(t)
	hs := holders(t, fmt.Sprintf("127.0.0.1:%d", p))
	if len(hs) != 1 || hs[0].Pid != pid {
		t.Fatalf("Holders(127.0.0.1:%d) = %v, want just the child, pid %d", p, hs, pid)
	}
	t.Logf("found %s", hs[0])
	if hs := holders(t, fmt.Sprintf("127.0.0.1:%d", p), os.Getpid()); len(hs) != 1 {
		t.Errorf("excluding the parent dropped the child: %v", hs)
	}
}

// A reuseport group whose members all sit in one process lists that
// process once per address, not once per socket.
func TestHoldersListsReuseportGroupOncePerProcess(t *testing.T) {
	first := listen(t, "127.0.0.1:0")
	listen(t, first.Addr().String())
	hs := holders(t, first.Addr().String())
	if len(hs) != 1 || hs[0].Pid != os.Getpid() {
		t.Fatalf("Holders(%s) = %v, want just pid %d", first.Addr(), hs, os.Getpid())
	}
}

func TestHoldersOfPortZeroIsNone(t *testing.T) {
	if hs := holders(t, "127.0.0.1:0"); hs != nil {
		t.Fatalf("Holders(127.0.0.1:0) = %v, want nil", hs)
	}
}

func TestHoldersRejectsBadAddress(t *testing.T) {
	for _, addr := range []string{"nonsense", "127.0.0.1:http", "no-such-host.invalid:80"} {
		if _, err := Holders(addr); err == nil {
			t.Errorf("Holders(%q) succeeded", addr)
		}
	}
}

func TestHolderString(t *testing.T) {
	for _, tc := range []struct {
		h    Holder
		want string
	}{
		{Holder{Pid: 1234, Command: "python3 -m http.server 8000"}, "pid 1234 (python3 -m http.server 8000)"},
		{Holder{Pid: 1234}, "pid 1234"},
		{Holder{}, "an unknown process"},
	} {
		if got := tc.h.String(); got != tc.want {
			t.Errorf("%#v.String() = %q, want %q", tc.h, got, tc.want)
		}
	}
}

func TestProcessCommandIsOneShortLine(t *testing.T) {
	cmd := processCommand(os.Getpid())
	if cmd == "" || strings.ContainsAny(cmd, "\x00\n") || len([]rune(cmd)) > maxCommandLen {
		t.Fatalf("processCommand(self) = %q", cmd)
	}
}
