package supervisor

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// These tests pin what spawn and the OS starter hand a worker: its spec,
// its descriptors, its environment, and the messages of its channel.

func TestAnExecWorkerIsGivenTheWorkerTimeoutAsItsWatchdog(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want time.Duration
	}{
		{"exec", Config{Workers: 1, Exec: []string{"/bin/true"}, WorkerTimeout: 2 * time.Second}, 2 * time.Second},
		{"exec without a timeout", Config{Workers: 1, Exec: []string{"/bin/true"}, WorkerTimeout: Off}, 0},
		{"built-in", Config{Workers: 1, WorkerTimeout: 2 * time.Second}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newLoopHarness(t, tc.cfg, always(healthy))
			if got := h.procs.procs[0].spec.Watchdog; got != tc.want {
				t.Errorf("spec.Watchdog = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestSpawnHandsTheSlotsSocketToTheWorker(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1}, always(healthy))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sl := &slot{index: 1, socket: &slotSocket{fd: int(f.Fd())}}
	w, err := h.s.spawn(sl)
	if err != nil || w == nil {
		t.Fatalf("spawn with the slot's socket: %v, %v", w, err)
	}
	if p := h.procs.procs[len(h.procs.procs)-1]; p.slot != 1 || !p.spec.Inherit {
		t.Errorf("the worker started for slot %d with Inherit %v, want slot 1 inheriting its socket", p.slot, p.spec.Inherit)
	}
}

func TestSlotSocketFileIsADuplicateOfIt(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	k := &slotSocket{fd: int(r.Fd())}
	f, err := k.file()
	if err != nil || f == nil {
		t.Fatalf("file() = %v, %v", f, err)
	}
	defer f.Close()
	var a, b unix.Stat_t
	if unix.Fstat(int(f.Fd()), &a) != nil || unix.Fstat(k.fd, &b) != nil || a.Ino != b.Ino || int(f.Fd()) == k.fd {
		t.Fatalf("file() gave descriptor %d, want a duplicate of %d", f.Fd(), k.fd)
	}
	if _, err := (&slotSocket{fd: -1}).file(); err == nil {
		t.Fatal("file() of a closed socket succeeded")
	}
}

func TestReadChannelDeliversEveryMessageUntilEOF(t *testing.T) {
	parent, child := channelPair(t)
	for _, word := range []string{msgReady, msgBeat} {
		if err := send(child, word, "", nil); err != nil {
			t.Fatal(err)
		}
	}
	child.Close()
	o := &osStarter{log: zerolog.New(zerolog.NewTestWriter(t))}
	var got []string
	done := make(chan struct{})
	go o.readChannel(parent, 1, func(m message) { got = append(got, m.word) }, done)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("readChannel did not end at EOF within 10s")
	}
	if !slices.Equal(got, []string{msgReady, msgBeat}) {
		t.Fatalf("delivered %q, want ready and beat", got)
	}
}

func TestWorkerEnvironmentSharesTheCPUsAmongTheWorkers(t *testing.T) {
	n := runtime.NumCPU()
	if got, want := workerEnviron(nil, workerSpec{Workers: 2 * n}), []string{"GOMAXPROCS=1"}; !slices.Equal(got, want) {
		t.Errorf("workerEnviron(nil, %d workers) = %q, want %q", 2*n, got, want)
	}
	if got, want := workerEnviron(nil, workerSpec{Workers: 1}), []string{"GOMAXPROCS=" + strconv.Itoa(n)}; !slices.Equal(got, want) {
		t.Errorf("workerEnviron(nil, 1 worker) = %q, want %q", got, want)
	}
	env := []string{"PATH=/bin", workerEnv + "={}", "GOMAXPROCS=7"}
	if got, want := workerEnviron(env, workerSpec{Workers: 1}), []string{"PATH=/bin", "GOMAXPROCS=7"}; !slices.Equal(got, want) {
		t.Errorf("workerEnviron(%q) = %q, want %q", env, got, want)
	}
}

func TestQuietSysmonAddsScheduleTraceToGODEBUGUnlessTheUserSetIt(t *testing.T) {
	quiet := workerSpec{Workers: 1, QuietSysmon: true}
	for _, tc := range []struct {
		env  []string
		want string // the worker's GODEBUG, "" for none
	}{
		{nil, "GODEBUG=schedtrace=2147483647"},
		{[]string{"GODEBUG="}, "GODEBUG=schedtrace=2147483647"},
		{[]string{"GODEBUG=madvdontneed=1"}, "GODEBUG=madvdontneed=1,schedtrace=2147483647"},
		{[]string{"GODEBUG=schedtrace=1000,madvdontneed=1"}, "GODEBUG=schedtrace=1000,madvdontneed=1"},
		{[]string{"GODEBUG=madvdontneed=1, schedtrace=0"}, "GODEBUG=madvdontneed=1, schedtrace=0"},
	} {
		got := godebugOf(workerEnviron(slices.Clone(tc.env), quiet))
		if got != tc.want {
			t.Errorf("workerEnviron(%q) has %q, want %q", tc.env, got, tc.want)
		}
	}
	off := workerSpec{Workers: 1}
	if got := godebugOf(workerEnviron([]string{"GODEBUG=madvdontneed=1"}, off)); got != "GODEBUG=madvdontneed=1" {
		t.Errorf("without QuietSysmon, GODEBUG became %q", got)
	}
	if got := godebugOf(workerEnviron(nil, off)); got != "" {
		t.Errorf("without QuietSysmon, a GODEBUG appeared: %q", got)
	}
}

// godebugOf is env's GODEBUG entry, "" when it has none; it fails on two.
func godebugOf(env []string) string {
	var found []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "GODEBUG=") {
			found = append(found, kv)
		}
	}
	if len(found) > 1 {
		return fmt.Sprintf("%d GODEBUG entries: %q", len(found), found)
	}
	if len(found) == 0 {
		return ""
	}
	return found[0]
}

func TestUnixSignalNameNamesKnownSignalsOnly(t *testing.T) {
	if got := unixSignalName(syscall.SIGTERM); got != "SIGTERM" {
		t.Errorf("unixSignalName(SIGTERM) = %q", got)
	}
	if got := unixSignalName(syscall.Signal(99)); got != "signal 99" {
		t.Errorf("unixSignalName(99) = %q, want \"signal 99\"", got)
	}
}

// TestOSStarterHandsTheChildItsDescriptors starts a shell as the worker:
// it exits 0 only when the channel is its fd 3, the scoreboard its fd 4
// and the slot's socket its fd 5.
func TestOSStarterHandsTheChildItsDescriptors(t *testing.T) {
	board, err := os.Create(filepath.Join(t.TempDir(), "board"))
	if err != nil {
		t.Fatal(err)
	}
	defer board.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	sock, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	o := &osStarter{command: "/bin/sh", args: []string{"-c", "test -S /proc/self/fd/3 && test -f /proc/self/fd/4 && test -S /proc/self/fd/5"},
		board: board, log: zerolog.New(zerolog.NewTestWriter(t)), name: func(workerSpec) string { return "sh" }}
	exited := make(chan exitStatus, 1)
	if _, err := o.start(workerSpec{Slot: 0, Workers: 1}, sock, func(message) {}, func(e exitStatus) { exited <- e }); err != nil {
		t.Fatal(err)
	}
	select {
	case e := <-exited:
		if e != (exitStatus{0, ""}) {
			t.Fatalf("the child exited %+v: it lacks a descriptor", e)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the child did not exit within 10s")
	}
}
