package supervisor

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
)

func TestNotifySocketNamesTheSenderByKernelCredentials(t *testing.T) {
	n, err := openNotifySocket()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan note, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		n.read(func(x note) { got <- x })
	}()
	t.Setenv("NOTIFY_SOCKET", n.name)
	// go-systemd's client is what a Go program under spread uses.
	sent, err := daemon.SdNotify(false, "READY=1\nSTATUS=warming up\nPID=1")
	if err != nil || !sent {
		t.Fatalf("SdNotify = %v, %v", sent, err)
	}
	select {
	case x := <-got:
		if x.pid != os.Getpid() {
			t.Fatalf("sender pid %d, want %d", x.pid, os.Getpid())
		}
		if x.fields["READY"] != "1" || x.fields["STATUS"] != "warming up" {
			t.Fatalf("fields %v", x.fields)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no note received within 5s")
	}
	n.close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("reader did not end when the socket closed")
	}
}

func TestExecEnvironHasSocketActivationAndNothingStale(t *testing.T) {
	env := []string{"PATH=/bin", workerEnv + "={}", "LISTEN_FDS=7", "LISTEN_PID=1", "NOTIFY_SOCKET=/run/systemd/notify", "WATCHDOG_USEC=5", "HOME=/root"}
	spec := workerSpec{Slot: 2, Workers: 4, NotifySocket: "@spread/notify/x", Watchdog: 3 * time.Second}
	got := execEnviron(env, spec, 42)
	want := []string{"PATH=/bin", "HOME=/root", "LISTEN_FDS=1", "LISTEN_PID=42", "LISTEN_FDNAMES=http",
		"SPREAD_SLOT=2", "SPREAD_WORKERS=4", "NOTIFY_SOCKET=@spread/notify/x", "WATCHDOG_USEC=3000000", "WATCHDOG_PID=42"}
	if !slices.Equal(got, want) {
		t.Fatalf("environ\n got %q\nwant %q", got, want)
	}
	spec.Watchdog, spec.NotifySocket = 0, ""
	for _, kv := range execEnviron(env, spec, 42) {
		for _, p := range []string{"WATCHDOG_", "NOTIFY_SOCKET="} {
			if len(kv) >= len(p) && kv[:len(p)] == p {
				t.Fatalf("%s set without a watchdog or notify socket", kv)
			}
		}
	}
}

func TestParseNoteReadsAssignmentsAndSkipsNoise(t *testing.T) {
	f := parseNote("READY=1\n\nnot an assignment\nSTATUS=a=b\n=x\n")
	if len(f) != 2 || f["READY"] != "1" || f["STATUS"] != "a=b" {
		t.Fatalf("parsed %v", f)
	}
}
