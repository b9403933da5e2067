package supervisor

import (
	"bytes"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// These tests speak to the notifier as systemd would listen to it: a
// datagram socket named by $NOTIFY_SOCKET, and $WATCHDOG_USEC.

// fakeSystemd listens where $NOTIFY_SOCKET says, for the rest of the test.
func fakeSystemd(t *testing.T) *net.UnixConn {
	t.Helper()
	path := filepath.Join(shortTempDir(t), "notify")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return c
}

// next is the next message systemd got, failing the test after 5s.
func next(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	buf := make([]byte, 4096)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("no notify message: %v", err)
	}
	return string(buf[:n])
}

func TestNotifierPingsTheWatchdogAtHalfItsInterval(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1}, always(healthy))
	sd := fakeSystemd(t)
	t.Setenv("WATCHDOG_USEC", "2000000")
	n := newNotifier(h.s)
	if n.watchdog != time.Second {
		t.Fatalf("watchdog ping every %s under WatchdogSec=2s, want 1s", n.watchdog)
	}
	n.tick(h.s)
	if got := next(t, sd); got != "WATCHDOG=1" {
		t.Fatalf("systemd got %q, want WATCHDOG=1", got)
	}
	pinged := h.now
	if got, want := n.deadline(h.s), pinged.Add(time.Second); !got.Equal(want) {
		t.Errorf("next ping due at %v, want a second later, %v", got, want)
	}
	h.now = pinged.Add(999 * time.Millisecond)
	n.tick(h.s)
	n.send("SENTINEL=1")
	if got := next(t, sd); got != "SENTINEL=1" {
		t.Fatalf("systemd got %q before the ping was due", got)
	}
	h.now = pinged.Add(time.Second)
	n.tick(h.s)
	if got := next(t, sd); got != "WATCHDOG=1" {
		t.Fatalf("systemd got %q when the ping was due, want WATCHDOG=1", got)
	}

	t.Setenv("WATCHDOG_USEC", "")
	n = newNotifier(h.s)
	if n.watchdog != 0 || !n.deadline(h.s).IsZero() {
		t.Errorf("watchdog every %s, next due %v, without WatchdogSec; want none", n.watchdog, n.deadline(h.s))
	}
	n.tick(h.s)
	n.send("SENTINEL=1")
	if got := next(t, sd); got != "SENTINEL=1" {
		t.Fatalf("systemd got %q without WatchdogSec", got)
	}
}

func TestNotifierTellsReloadsAndStatusChangesOnly(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1}, always(healthy))
	h.until("every worker online", time.Second, h.online)
	sd := fakeSystemd(t)
	n := newNotifier(h.s)
	n.ready(h.s)
	if got, want := next(t, sd), "READY=1\nSTATUS=1/1 workers online"; got != want {
		t.Fatalf("systemd got %q, want %q", got, want)
	}
	n.workersChanged(h.s)
	n.send("SENTINEL=1")
	if got := next(t, sd); got != "SENTINEL=1" {
		t.Fatalf("systemd got %q though nothing changed", got)
	}
	h.s.reload = &reloadState{id: 1}
	n.workersChanged(h.s)
	got := next(t, sd)
	if !strings.HasPrefix(got, "RELOADING=1\nMONOTONIC_USEC=") || !strings.HasSuffix(got, "\nSTATUS=1/1 workers online, reloading") {
		t.Fatalf("systemd got %q at a reload's start, want RELOADING=1, MONOTONIC_USEC and the status", got)
	}
	h.s.reload = nil
	n.workersChanged(h.s)
	if got, want := next(t, sd), "READY=1\nSTATUS=1/1 workers online"; got != want {
		t.Fatalf("systemd got %q at a reload's end, want %q", got, want)
	}
	h.s.slots = append(h.s.slots, &slot{index: 1})
	n.workersChanged(h.s)
	if got, want := next(t, sd), "STATUS=1/2 workers online"; got != want {
		t.Fatalf("systemd got %q when a slot was added, want %q", got, want)
	}
}

func TestMonotonicUsecIsTheMonotonicClockInMicroseconds(t *testing.T) {
	before := monotonicUsec()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		t.Fatal(err)
	}
	after := monotonicUsec()
	if us := ts.Nano() / 1000; before > us || us > after {
		t.Fatalf("CLOCK_MONOTONIC read %dus between monotonicUsec's %d and %d", us, before, after)
	}
}

func TestNotifierStatusSaysReloadingDuringAReload(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 2}, always(healthy))
	h.until("every worker online", time.Second, h.online)
	n := newNotifier(h.s)
	if got, want := n.statusLine(), "STATUS=2/2 workers online"; got != want {
		t.Errorf("status %q, want %q", got, want)
	}
	if h.s.startReload() == 0 {
		t.Fatal("no reload started")
	}
	if got := n.statusLine(); !strings.HasSuffix(got, ", reloading") {
		t.Errorf("status during a reload %q, want it to say reloading", got)
	}
}

func TestNotifierWarnsOnlyWhenSystemdCannotBeTold(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1}, always(healthy))
	var logs bytes.Buffer
	h.s.log = zerolog.New(&logs)
	sd := fakeSystemd(t)
	n := newNotifier(h.s)
	n.send("STOPPING=1")
	if got := next(t, sd); got != "STOPPING=1" {
		t.Fatalf("systemd got %q, want STOPPING=1", got)
	}
	if strings.Contains(logs.String(), "systemd notify") {
		t.Fatalf("a warning though systemd was told: %s", logs.String())
	}
	t.Setenv("NOTIFY_SOCKET", filepath.Join(t.TempDir(), "nobody-listens"))
	n.send("STOPPING=1")
	if !strings.Contains(logs.String(), `"message":"systemd notify"`) {
		t.Fatalf("no warning though nobody listens on $NOTIFY_SOCKET; logs: %s", logs.String())
	}
}
