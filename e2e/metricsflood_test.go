package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spreadhttp/spread/internal/spreadtest"
)

// fdCount is the number of descriptors pid holds.
func fdCount(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// 200 idle connections to --metrics-addr, with a low descriptor limit,
// used to take every descriptor the supervisor had: worker starts failed
// (socketpair: too many open files) and the control socket stalled. The
// metrics port now holds a bounded number of connections, so supervision
// keeps what it needs.
func TestIdleMetricsConnectionsLeaveSupervisionItsDescriptors(t *testing.T) {
	mport := spreadtest.FreePort(t)
	s := spreadtest.Start(t, "--workers", "2", "--metrics-addr", fmt.Sprint(mport))
	before := s.WaitOnline(2, 10*time.Second)
	waitEvents(t, s, "control socket open", 1, 5*time.Second)

	// Room for 30 more descriptors than the supervisor holds now: far
	// fewer than the flood, plenty for restarts.
	base := fdCount(t, s.Pid())
	limit := uint64(base + 30)
	if err := unix.Prlimit(s.Pid(), unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}, nil); err != nil {
		t.Fatalf("lower the supervisor's RLIMIT_NOFILE: %v", err)
	}
	const flood = 200
	for i := range flood {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", mport), 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d to the metrics port: %v", i, err)
		}
		defer c.Close()
	}
	// Guard: the flood reached the supervisor.
	spreadtest.Eventually(t, 5*time.Second, "the supervisor to accept metrics connections", func() bool {
		return fdCount(t, s.Pid()) >= base+10
	})
	if n := fdCount(t, s.Pid()); n >= int(limit)-5 {
		t.Fatalf("the supervisor holds %d descriptors of its %d with %d idle metrics connections", n, limit, flood)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, spreadtest.Binary(t), "status", "--addr", s.Addr).CombinedOutput()
	if err != nil {
		t.Fatalf("spread status during the flood: %v (%v): %s", err, ctx.Err(), out)
	}

	if err := syscall.Kill(before[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	spreadtest.Eventually(t, 2*time.Second, fmt.Sprintf("killed worker %d to be gone", before[0]), func() bool {
		return !spreadtest.Alive(before[0])
	})
	after := s.WaitOnline(2, 5*time.Second)
	if contains(after, before[0]) {
		t.Fatalf("killed worker %d still listed among %v", before[0], after)
	}
	if n := len(s.Log().Events("worker not started")); n != 0 {
		t.Fatalf("%d worker starts failed during the flood", n)
	}
}
