package reuseport

import (
	"errors"
	"os"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// MigrateReqEnabled must follow the switch: in a network namespace of the
// test's own (so the host's setting is neither read nor changed), the test
// sets net.ipv4.tcp_migrate_req to 1 and then 0 and checks each reading.
func TestMigrateReqEnabledFollowsTheSysctl(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("setting net.ipv4.tcp_migrate_req in a new network namespace needs root")
	}
	type reading struct {
		set string
		on  bool
		err error
	}
	readings := make(chan reading, 2)
	setupErr := make(chan error, 1)
	go func() {
		// The namespace belongs to this thread only: it stays locked, so
		// the runtime ends the thread with the goroutine instead of
		// handing it back to other goroutines.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			setupErr <- err
			return
		}
		// /proc/sys/net is the network namespace of the thread that opens it.
		for _, set := range []string{"1", "0"} {
			if err := os.WriteFile(migrateReqPath, []byte(set), 0); err != nil {
				setupErr <- err
				return
			}
			on, err := MigrateReqEnabled()
			readings <- reading{set, on, err}
		}
		setupErr <- nil
	}()
	if err := <-setupErr; err != nil {
		if errors.Is(err, os.ErrNotExist) {
			t.Skipf("kernel without net.ipv4.tcp_migrate_req (before 5.14): %v", err)
		}
		t.Fatalf("set net.ipv4.tcp_migrate_req in a new network namespace: %v", err)
	}
	close(readings)
	n := 0
	for r := range readings {
		n++
		if r.err != nil {
			t.Fatalf("after setting %s: %v", r.set, r.err)
		}
		if want := r.set == "1"; r.on != want {
			t.Errorf("net.ipv4.tcp_migrate_req set to %s, MigrateReqEnabled says %v", r.set, r.on)
		}
	}
	if n != 2 {
		t.Fatalf("%d readings, want 2 (one for 1, one for 0)", n)
	}
}

// Whatever the host chose, this kernel has the switch and it reads.
func TestMigrateReqEnabledReadsOnThisKernel(t *testing.T) {
	on, err := MigrateReqEnabled()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("net.ipv4.tcp_migrate_req on: %v", on)
}
