package reuseport

import (
	"cmp"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode"

	"github.com/spreadhttp/spread/internal/procfs"
)

// Holder is a process that has a listening TCP socket on an address that
// shares or conflicts with the one asked about.
type Holder struct {
	// Pid is the owning process, or 0 when no process visible to us has the
	// socket open (another user's process without root, or another PID
	// namespace).
	Pid int
	// Command is the process's command line (/proc/<pid>/cmdline, arguments
	// joined by spaces, cut to about 80 characters), or its name
	// (/proc/<pid>/comm) when the command line is empty. Empty when Pid is 0.
	Command string
	// Addr is the socket's own local address, e.g. "0.0.0.0:8000" or
	// "[::]:8000", which may differ from the address asked about.
	Addr string
}

// String names the holder for a one-line message:
// "pid 1234 (python3 -m http.server 8000)", or "an unknown process" when
// the owner could not be found.
func (h Holder) String() string {
	switch {
	case h.Pid == 0:
		return "an unknown process"
	case h.Command == "":
		return "pid " + strconv.Itoa(h.Pid)
	}
	return fmt.Sprintf("pid %d (%s)", h.Pid, h.Command)
}

// Holders lists the processes, other than those in exclude, that have a TCP
// socket in LISTEN state which would share or conflict with addr: the same
// port, and the same IP, or either side is a wildcard. It answers "who is
// on my port?" both when bind fails and when a stranger of the same user
// has silently joined a reuseport group. A port of 0 means no port at all:
// Holders returns nil.
//
// A host name (e.g. "localhost") counts as all the IPs it resolves to. An
// empty host, 0.0.0.0 or :: counts as every IP of both families, because Go
// listens on such an address with one dual-stack IPv6 socket. A socket on
// :: counts for IPv4 too: without IPV6_V6ONLY it takes IPv4 connections,
// and /proc/net/tcp6 does not say whether the option is set, so Holders
// assumes it is not and may over-report a v6-only socket.
//
// The sockets come from /proc/net/tcp and /proc/net/tcp6, which show only
// the caller's network namespace; their owners come from scanning
// /proc/<pid>/fd for "socket:[<inode>]" links. Every process holding a
// socket is listed (a supervisor and the workers that inherited it are all
// holders), in pid order, with unknown owners (Pid 0) last. A socket whose
// only holders are excluded is left out.
func Holders(addr string, exclude ...int) ([]Holder, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("holders of %s: %s", addr, splitProblem(err))
	}
	port, err := parsePort(portText)
	if err != nil {
		return nil, fmt.Errorf("holders of %s: %w", addr, err)
	}
	if port == 0 {
		return nil, nil
	}
	ips, err := hostIPs(host)
	if err != nil {
		return nil, fmt.Errorf("holders of %s: %w", addr, err)
	}

	sockets, err := listeningSockets()
	if err != nil {
		return nil, fmt.Errorf("holders of %s: %w", addr, err)
	}
	matched := make(map[uint64]netip.AddrPort)
	for _, s := range sockets {
		if s.Local.Port() != uint16(port) {
			continue
		}
		for _, ip := range ips {
			if overlaps(ip, s.Local.Addr()) {
				matched[s.Inode] = s.Local
				break
			}
		}
	}
	if len(matched) == 0 {
		return nil, nil
	}

	owners, err := socketOwners(matched)
	if err != nil {
		return nil, fmt.Errorf("holders of %s: %w", addr, err)
	}
	type key struct {
		pid  int
		addr string
	}
	seen := make(map[key]bool)
	var holders []Holder
	add := func(pid int, local netip.AddrPort) {
		k := key{pid, local.String()}
		if seen[k] {
			return
		}
		seen[k] = true
		holders = append(holders, Holder{Pid: pid, Addr: k.addr})
	}
	for inode, local := range matched {
		if len(owners[inode]) == 0 {
			add(0, local)
			continue
		}
		for _, pid := range owners[inode] {
			if !slices.Contains(exclude, pid) {
				add(pid, local)
			}
		}
	}
	commands := make(map[int]string)
	for i, h := range holders {
		if h.Pid == 0 {
			continue
		}
		if _, ok := commands[h.Pid]; !ok {
			commands[h.Pid] = processCommand(h.Pid)
		}
		holders[i].Command = commands[h.Pid]
	}
	slices.SortFunc(holders, func(a, b Holder) int {
		return cmp.Or(
			cmp.Compare(unknownLast(a.Pid), unknownLast(b.Pid)),
			cmp.Compare(a.Addr, b.Addr),
		)
	})
	return holders, nil
}

// unknownLast orders pids ascending with 0 (unknown) after all others.
func unknownLast(pid int) int {
	if pid == 0 {
		return int(^uint(0) >> 1)
	}
	return pid
}

// hostIPs resolves the host part of an address. An empty host yields the
// IPv6 wildcard, which [overlaps] treats as every address.
func hostIPs(host string) ([]netip.Addr, error) {
	if host == "" {
		return []netip.Addr{netip.IPv6Unspecified()}, nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{ip.WithZone("").Unmap()}, nil
	}
	resolved, err := net.LookupIP(host)
	if err != nil {
		return nil, fmt.Errorf("host %q does not resolve", host)
	}
	var ips []netip.Addr
	for _, r := range resolved {
		if ip, ok := netip.AddrFromSlice(r); ok {
			ips = append(ips, ip.Unmap())
		}
	}
	return ips, nil
}

// overlaps reports whether a socket bound to sock conflicts with, or shares
// a reuseport group with, a bind to want (on the same port).
func overlaps(want, sock netip.Addr) bool {
	want, sock = want.WithZone("").Unmap(), sock.WithZone("").Unmap()
	switch {
	case want.IsUnspecified():
		// Go binds 0.0.0.0 and :: alike as a dual-stack [::] socket, which
		// collides with every address of the port.
		return true
	case sock.IsUnspecified():
		// [::] without IPV6_V6ONLY also takes IPv4; 0.0.0.0 takes only IPv4.
		return sock.Is6() || want.Is4()
	}
	return want == sock
}

// listeningSockets reads the LISTEN rows of /proc/net/tcp and /proc/net/tcp6.
func listeningSockets() ([]procfs.TCPSocket, error) { return socketsIn(procfs.TCPListen) }

// socketsIn reads the rows of /proc/net/tcp and /proc/net/tcp6 in state.
func socketsIn(state int) ([]procfs.TCPSocket, error) {
	inState := func(r procfs.TCPSocket) bool { return r.State == state }
	v4, err := procfs.TCP4(inState)
	if err != nil {
		return nil, err
	}
	v6, err := procfs.TCP6(inState)
	if err != nil {
		return nil, err
	}
	return append(v4, v6...), nil
}

// HandshakesUnderWay counts the connections to addr's port that are in no
// accept queue yet: SYN_RECV in /proc/net/tcp and tcp6, a handshake under
// way or, with TCP_DEFER_ACCEPT, one whose request has not arrived. A
// listener's accept-queue length does not count them.
func HandshakesUnderWay(addr string) (int, error) {
	_, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return 0, fmt.Errorf("handshakes to %s: %s", addr, splitProblem(err))
	}
	port, err := parsePort(portText)
	if err != nil {
		return 0, fmt.Errorf("handshakes to %s: %w", addr, err)
	}
	rows, err := socketsIn(procfs.TCPSynRecv)
	if err != nil {
		return 0, fmt.Errorf("handshakes to %s: %w", addr, err)
	}
	n := 0
	for _, r := range rows {
		if r.Local.Port() == uint16(port) {
			n++
		}
	}
	return n, nil
}

// socketOwners maps each wanted socket inode to the pids that have it open,
// by reading the "socket:[<inode>]" links in /proc/<pid>/fd. Processes that
// vanish or whose fd directory we may not read are skipped: their sockets
// end up with no owner.
func socketOwners(wanted map[uint64]netip.AddrPort) (map[uint64][]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	owners := make(map[uint64][]int)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid <= 0 {
			continue
		}
		fdDir := filepath.Join("/proc", e.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil {
				continue
			}
			inodeText, ok := strings.CutPrefix(link, "socket:[")
			if !ok {
				continue
			}
			inode, err := strconv.ParseUint(strings.TrimSuffix(inodeText, "]"), 10, 64)
			if err != nil {
				continue
			}
			if _, ok := wanted[inode]; ok && !slices.Contains(owners[inode], pid) {
				owners[inode] = append(owners[inode], pid)
			}
		}
	}
	return owners, nil
}

// maxCommandLen is how many characters of a command line a Holder keeps:
// enough to recognise "python3 -m http.server 8000", short enough for one line.
const maxCommandLen = 80

// processCommand returns pid's command line for a message, falling back to
// the kernel's process name when the command line is empty (kernel threads,
// zombies).
func processCommand(pid int) string {
	dir := filepath.Join("/proc", strconv.Itoa(pid))
	cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
	return commandText(cmdline, func() []byte {
		comm, _ := os.ReadFile(filepath.Join(dir, "comm"))
		return comm
	})
}

// commandText turns the contents of /proc/<pid>/cmdline into one short
// line, or what comm returns when the command line is empty.
func commandText(cmdline []byte, comm func() []byte) string {
	command := strings.ReplaceAll(strings.TrimRight(string(cmdline), "\x00"), "\x00", " ")
	if strings.TrimSpace(command) == "" {
		command = string(comm())
	}
	// Keep the message on one line whatever the arguments hold.
	command = strings.TrimSpace(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, command))
	if runes := []rune(command); len(runes) > maxCommandLen {
		command = string(runes[:maxCommandLen-1]) + "…"
	}
	return command
}
