package reuseport

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// group is a reuseport group of n listening sockets on one free port, as
// bare descriptors (what spread's supervisor holds), never accepted from.
type group struct {
	addr  string
	fds   []int
	files []*os.File
	lns   []*net.TCPListener
}

func newGroup(t *testing.T, n int) *group {
	t.Helper()
	g := &group{}
	for i := range n {
		addr := "127.0.0.1:0"
		if i > 0 {
			addr = g.addr
		}
		ln := listen(t, addr)
		g.addr = ln.Addr().String()
		f, err := File(ln)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		g.lns = append(g.lns, ln)
		g.files = append(g.files, f)
		g.fds = append(g.fds, int(f.Fd()))
	}
	return g
}

// queues reads every socket's accept-queue length.
func (g *group) queues(t *testing.T) []int {
	t.Helper()
	out := make([]int, len(g.fds))
	for i, fd := range g.fds {
		n, err := FDQueueLen(fd)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = n
	}
	return out
}

// connect opens n connections and waits until the group has queued them
// all; it returns each socket's share.
func (g *group) connect(t *testing.T, n int) []int {
	t.Helper()
	before := sum(g.queues(t))
	for range n {
		c, err := net.DialTimeout("tcp", g.addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
	}
	deadline := time.Now().Add(5 * time.Second)
	for sum(g.queues(t)) != before+n {
		if time.Now().After(deadline) {
			t.Fatalf("queues %v after %d connections", g.queues(t), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return g.queues(t)
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

func steering(t *testing.T, g *group) *Steering {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("steering needs root (CAP_BPF and CAP_NET_ADMIN)")
	}
	s, err := NewSteering(8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	for i, fd := range g.fds {
		if err := s.Add(i, fd); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

func TestSteeringSendsEveryConnectionToTheEligibleSocket(t *testing.T) {
	g := newGroup(t, 3)
	s := steering(t, g)
	if err := s.SetEligible([]int{1}); err != nil {
		t.Fatal(err)
	}
	if q := g.connect(t, 30); q[0] != 0 || q[1] != 30 || q[2] != 0 {
		t.Fatalf("queues %v, want all 30 on socket 1", q)
	}
}

func TestSteeringSpreadsOverTheEligibleSocketsOnly(t *testing.T) {
	g := newGroup(t, 3)
	s := steering(t, g)
	if err := s.SetEligible([]int{0, 2}); err != nil {
		t.Fatal(err)
	}
	q := g.connect(t, 200)
	if q[1] != 0 || q[0] < 60 || q[2] < 60 {
		t.Fatalf("queues %v: want none on socket 1 and an even split of 200 over 0 and 2", q)
	}
}

func TestSteeringWithNoEligibleSocketLeavesTheKernelsHash(t *testing.T) {
	g := newGroup(t, 3)
	s := steering(t, g)
	if err := s.SetEligible([]int{1}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetEligible(nil); err != nil {
		t.Fatal(err)
	}
	q := g.connect(t, 150)
	for i, n := range q {
		if n < 20 {
			t.Fatalf("queues %v: socket %d got almost none; the kernel's hash should spread them", q, i)
		}
	}
}

func TestClosedSocketsQueueMigratesToAnEligibleOneWithoutTheSysctl(t *testing.T) {
	if on, err := MigrateReqEnabled(); err != nil || on {
		t.Skipf("net.ipv4.tcp_migrate_req is on (or unreadable: %v): the kernel would migrate without steering", err)
	}
	g := newGroup(t, 2)
	s := steering(t, g)
	if !s.Migrates() {
		t.Skip("kernel before 5.14: no select-or-migrate")
	}
	if err := s.SetEligible([]int{1}); err != nil {
		t.Fatal(err)
	}
	if q := g.connect(t, 10); q[1] != 10 {
		t.Fatalf("queues %v, want 10 on socket 1", q)
	}
	if err := s.SetEligible([]int{0}); err != nil {
		t.Fatal(err)
	}
	// Close every descriptor of socket 1: its queue must move to 0.
	g.lns[1].Close()
	g.files[1].Close()
	n, err := FDQueueLen(g.fds[0])
	if err != nil {
		t.Fatal(err)
	}
	if n != 10 {
		t.Fatalf("socket 0 queues %d after socket 1 closed, want the 10 migrated", n)
	}
}

func TestRefuseAllRefusesNewConnectionsAndKeepsTheQueued(t *testing.T) {
	g := newGroup(t, 2)
	s := steering(t, g)
	if err := s.SetEligible([]int{0, 1}); err != nil {
		t.Fatal(err)
	}
	if q := g.connect(t, 4); sum(q) != 4 {
		t.Fatalf("queues %v before RefuseAll, want 4 in all", q)
	}
	if err := s.RefuseAll(); err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTimeout("tcp", g.addr, 2*time.Second)
	if err == nil {
		c.Close()
		t.Fatal("a connection got through RefuseAll")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial under RefuseAll: %v, want connection refused", err)
	}
	if q := g.queues(t); sum(q) != 4 {
		t.Fatalf("queues %v under RefuseAll, want the 4 queued before it kept", q)
	}
	// SetEligible lets connections in again.
	if err := s.SetEligible([]int{1}); err != nil {
		t.Fatal(err)
	}
	if q := g.connect(t, 3); sum(q) != 7 {
		t.Fatalf("queues %v after SetEligible, want 7 in all", q)
	}
}

// The kernel runs BPF_PROG_TEST_RUN only for the program types whose
// bpf_prog_ops have a test_run; sk_reuseport_prog_ops has none (Linux
// 6.18 included), so the program is tested on real socket groups above.
// This test notices the day a kernel can.
func TestSteerProgramUnderProgTestRun(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loading the program needs root (CAP_BPF and CAP_NET_ADMIN)")
	}
	s, err := NewSteering(4)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ret, _, err := s.prog.Test(make([]byte, 64))
	if errors.Is(err, ebpf.ErrNotSupported) {
		t.Skipf("BPF_PROG_TEST_RUN: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	// No eligible key: SK_PASS, the kernel's hash.
	if ret != skPass {
		t.Fatalf("program returned %d with no eligible socket, want SK_PASS", ret)
	}
}
