package e2e

import (
	"encoding/json"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spreadhttp/spread/internal/spreadtest"
)

// supervisorPid is the pid the control socket's server reports.
func supervisorPid(t *testing.T, s *spreadtest.Server) int {
	t.Helper()
	return statusOf(t, s).Pid
}

// stopAfterUpgrade stops whichever supervisor serves s's address now, and
// waits until it is gone: the test harness only knows the first one.
func stopAfterUpgrade(t *testing.T, s *spreadtest.Server) {
	t.Helper()
	t.Cleanup(func() {
		var st struct {
			Pid int `json:"pid"`
		}
		if out, code := s.CLI("status", "--json"); code == 0 {
			_ = json.Unmarshal([]byte(out), &st)
		}
		pid := st.Pid
		if pid > 0 && pid != s.Pid() {
			_ = syscall.Kill(pid, syscall.SIGTERM)
			deadline := time.Now().Add(15 * time.Second)
			for spreadtest.Alive(pid) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

// workerPids are the pids of the workers in the status.
func workerPids(t *testing.T, s *spreadtest.Server) []int {
	t.Helper()
	var pids []int
	for _, w := range statusOf(t, s).Workers {
		pids = append(pids, w.Pid)
	}
	return pids
}

func testUpgradeLosesNothing(t *testing.T, keepAlive bool) {
	pidfile := filepath.Join(t.TempDir(), "spread.pid")
	s := spreadtest.Start(t, "--workers", "2", "--pidfile", pidfile)
	stopAfterUpgrade(t, s)
	before := s.WaitOnline(2, 10*time.Second)
	old := s.Pid()
	var now int
	l := &spreadtest.Load{Addr: s.Addr, Conns: 32, KeepAlive: keepAlive, MaxRequests: 2_000_000, MaxDuration: 60 * time.Second}
	runLoad(t, l, func() {
		for range 2 {
			out, code := s.CLI("upgrade")
			if code != 0 || !strings.HasPrefix(out, "upgraded: supervisor ") {
				t.Fatalf("spread upgrade exited %d: %s", code, out)
			}
		}
		now = supervisorPid(t, s)
		// Keep the load on until the old workers have drained away.
		spreadtest.Eventually(t, 15*time.Second, "the first supervisor gone", func() bool { return !spreadtest.Alive(old) })
	})
	if now == old {
		t.Fatalf("supervisor pid %d after two upgrades", now)
	}
	for _, p := range workerPids(t, s) {
		if contains(before, p) {
			t.Fatalf("worker %d survived the upgrades (before %v)", p, before)
		}
	}
	if b, err := os.ReadFile(pidfile); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(now) {
		t.Fatalf("pidfile says %q (%v), want %d", b, err, now)
	}
}

func TestUpgradeUnderKeepAliveLoadLosesNothing(t *testing.T) { testUpgradeLosesNothing(t, true) }

func TestUpgradeUnderConnectionPerRequestLoadLosesNothing(t *testing.T) {
	testUpgradeLosesNothing(t, false)
}

func TestUpgradeToABrokenBinaryLeavesTheOldSupervisorServing(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "spread")
	copyFile(t, spreadtest.Binary(t), bin)
	s := spreadtest.StartBinary(t, bin, "--workers", "2")
	stopAfterUpgrade(t, s)
	before := s.WaitOnline(2, 10*time.Second)

	// The binary on disk now exits at once.
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, []byte("#!/bin/sh\nexit 3\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	out, code := s.CLI("upgrade")
	if code == 0 || !strings.Contains(out, "exited before it was ready") || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Fatalf("upgrade to a broken binary: exit %d, %q; want a one-line failure", code, out)
	}
	if pid := supervisorPid(t, s); pid != s.Pid() {
		t.Fatalf("supervisor %d answers, want the old %d", pid, s.Pid())
	}
	if after := s.WaitOnline(2, 5*time.Second); !equalInts(after, before) {
		t.Fatalf("workers %v after a failed upgrade, want %v untouched", after, before)
	}
	if r, err := s.Get("/"); err != nil || r.Status != 200 {
		t.Fatalf("old supervisor not serving after the failed upgrade: %v %v", r.Status, err)
	}

	// Restored, the upgrade goes through.
	if err := os.Remove(bin); err != nil {
		t.Fatal(err)
	}
	copyFile(t, spreadtest.Binary(t), bin)
	if out, code := s.CLI("upgrade"); code != 0 {
		t.Fatalf("upgrade after the fix: exit %d: %s", code, out)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sdNote is one sd_notify datagram and the pid the kernel says sent it.
type sdNote struct {
	pid  int
	text string
}

// notifySocket listens as systemd's NOTIFY_SOCKET would, with the
// sender's credentials, and returns its path and the datagrams.
func notifySocket(t *testing.T) (string, <-chan sdNote) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	rc, err := conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	_ = rc.Control(func(fd uintptr) { _ = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PASSCRED, 1) })
	notes := make(chan sdNote, 100)
	go func() {
		buf, oob := make([]byte, 4096), make([]byte, 256)
		for {
			n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
			if err != nil {
				close(notes)
				return
			}
			pid := 0
			if scms, err := unix.ParseSocketControlMessage(oob[:oobn]); err == nil {
				for i := range scms {
					if cred, err := unix.ParseUnixCredentials(&scms[i]); err == nil {
						pid = int(cred.Pid)
					}
				}
			}
			notes <- sdNote{pid: pid, text: string(buf[:n])}
		}
	}()
	return path, notes
}

// Under Type=notify with NotifyAccess=main, only the main process may
// name a new main pid: the old supervisor says MAINPID=<new> and READY=1,
// and does not say STOPPING=1 while it drains.
func TestUpgradeTellsSystemdTheNewMainPid(t *testing.T) {
	path, notes := notifySocket(t)
	s := spreadtest.StartEnv(t, []string{"NOTIFY_SOCKET=" + path}, "--workers", "2")
	stopAfterUpgrade(t, s)
	s.WaitOnline(2, 10*time.Second)
	old := s.Pid()
	out, code := s.CLI("upgrade")
	if code != 0 {
		t.Fatalf("spread upgrade: exit %d: %s", code, out)
	}
	newPid := supervisorPid(t, s)
	want := "MAINPID=" + strconv.Itoa(newPid)
	var heard []sdNote
	spreadtest.Eventually(t, 15*time.Second, "the old supervisor to exit", func() bool {
		for {
			select {
			case n := <-notes:
				heard = append(heard, n)
				continue
			default:
			}
			break
		}
		return !spreadtest.Alive(old)
	})
	handedOver := false
	for _, n := range heard {
		if n.pid != old {
			continue
		}
		if strings.Contains(n.text, want) && strings.Contains(n.text, "READY=1") {
			handedOver = true
		}
		if strings.Contains(n.text, "STOPPING=1") {
			t.Fatalf("the old supervisor told systemd STOPPING=1 after handing over: %q", n.text)
		}
	}
	if !handedOver {
		t.Fatalf("no %s with READY=1 from the old supervisor %d; heard %+v", want, old, heard)
	}
}
