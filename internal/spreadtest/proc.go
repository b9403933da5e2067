package spreadtest

import (
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/procfs"
)

// This file observes processes and sockets through /proc (internal/procfs).

// Children returns the pids of parent's live (not zombie) children.
func Children(parent int) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := procfs.ReadStat(pid)
		if err == nil && st.PPid == parent && !st.Zombie() {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	return pids
}

// IsSpare reports whether pid is a spread spare waiting for a slot: its
// name in ps says "worker (spare)" until it takes one.
func IsSpare(pid int) bool {
	arg0, err := procfs.ReadArg0(pid)
	return err == nil && strings.Contains(arg0, "worker (spare)")
}

// Alive reports whether pid exists and is not a zombie.
func Alive(pid int) bool {
	st, err := procfs.ReadStat(pid)
	return err == nil && !st.Zombie()
}

// StopProcess sends SIGSTOP to pid and waits until every thread of it has
// stopped: the signal is asynchronous, and a thread still running on
// another core could accept a connection after kill(2) has returned.
func StopProcess(t testing.TB, pid int) {
	t.Helper()
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP %d: %v", pid, err)
	}
	Eventually(t, 2*time.Second, fmt.Sprintf("every thread of %d stopped", pid), func() bool {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return false
		}
		for _, task := range tasks {
			tid, _ := strconv.Atoi(task.Name())
			st, err := procfs.ReadTaskStat(pid, tid)
			if err != nil || (st.State != 'T' && st.State != 't') {
				return false
			}
		}
		return true
	})
}

// portRows reads the /proc/net/tcp rows whose local port is addr's.
func portRows(t testing.TB, addr string) []procfs.TCPSocket {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	p, err := strconv.Atoi(port)
	if err != nil {
		t.Fatalf("port of %q: %v", addr, err)
	}
	rows, err := procfs.TCP4(func(r procfs.TCPSocket) bool { return int(r.Local.Port()) == p })
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// PortSockets reads /proc/net/tcp for addr's port: established is the
// number of established connections to it (queued ones included), queued
// the sum of its listening sockets' accept queues.
func PortSockets(t testing.TB, addr string) (established, queued int) {
	t.Helper()
	for _, r := range portRows(t, addr) {
		switch r.State {
		case procfs.TCPEstablished:
			established++
		case procfs.TCPListen:
			queued += r.RxQueue
		}
	}
	return established, queued
}

// ListenInodes returns the socket inodes of the listening sockets on
// addr's port.
func ListenInodes(t testing.TB, addr string) map[string]bool {
	t.Helper()
	inodes := map[string]bool{}
	for _, r := range portRows(t, addr) {
		if r.State == procfs.TCPListen {
			inodes[strconv.FormatUint(r.Inode, 10)] = true
		}
	}
	return inodes
}

// Accepted is the number of connections to addr that a worker has
// accepted: established ones less those still queued.
func Accepted(t testing.TB, addr string) int {
	t.Helper()
	est, queued := PortSockets(t, addr)
	return est - queued
}
