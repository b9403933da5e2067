package procfs

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"strconv"
)

// TCP states as /proc/net/tcp prints them (include/net/tcp_states.h).
const (
	TCPEstablished = 0x01
	TCPSynRecv     = 0x03 // a request socket: handshake under way, or deferred (TCP_DEFER_ACCEPT)
	TCPListen      = 0x0A
)

// TCPSocket is one row of /proc/net/tcp or /proc/net/tcp6.
type TCPSocket struct {
	Local netip.AddrPort
	State int
	// RxQueue is, for a listening socket, its accept-queue length; for a
	// connection, the bytes received and not read yet.
	RxQueue int
	// Inode is the socket's inode, 0 for a connection no process has
	// accepted yet.
	Inode uint64
}

// TCP4 reads the rows of /proc/net/tcp, the IPv4 sockets of this network
// namespace, that keep accepts; every row when keep is nil.
func TCP4(keep func(TCPSocket) bool) ([]TCPSocket, error) {
	return readTable("/proc/net/tcp", keep)
}

// TCP6 is TCP4 for /proc/net/tcp6; it is empty, not an error, when IPv6 is
// disabled and the file is missing.
func TCP6(keep func(TCPSocket) bool) ([]TCPSocket, error) {
	rows, err := readTable("/proc/net/tcp6", keep)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return rows, err
}

func readTable(path string, keep func(TCPSocket) bool) ([]TCPSocket, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := ParseNetTCP(f, keep)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rows, nil
}

// ParseNetTCP parses the table format of /proc/net/tcp and /proc/net/tcp6
// and returns the rows that keep accepts (every row when keep is nil). The
// table is a header line, then rows of
//
//	sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
//
// with hex addresses "0100007F:1F40". The kernel prints an address as
// 32-bit words in host byte order (a v4 address is one word, a v6 address
// four), so on little-endian machines each word's bytes read backwards.
//
// A busy host lists tens of thousands of sockets, mostly TIME_WAIT, and
// the supervisor reads the table at start: a row is parsed in place, with
// no allocation, and only kept rows are stored. Building every row once
// took 15 MB of heap for 12,000 sockets, and the runtime's bookkeeping
// for that peak stayed resident for the supervisor's whole life.
func ParseNetTCP(r io.Reader, keep func(TCPSocket) bool) ([]TCPSocket, error) {
	var rows []TCPSocket
	sc := bufio.NewScanner(r)
	var fields [10][]byte
	for sc.Scan() {
		n := firstFields(sc.Bytes(), &fields)
		if n == 0 || string(fields[0]) == "sl" {
			continue
		}
		if n < len(fields) {
			return nil, fmt.Errorf("short line %q", sc.Text())
		}
		row, err := parseRow(&fields)
		if err != nil {
			return nil, err
		}
		if keep == nil || keep(row) {
			rows = append(rows, row)
		}
	}
	return rows, sc.Err()
}

// firstFields puts the first len(out) space-separated fields of line in
// out, as slices of line, and returns how many there were.
func firstFields(line []byte, out *[10][]byte) int {
	n := 0
	for n < len(out) {
		line = bytes.TrimLeft(line, " \t")
		if len(line) == 0 {
			break
		}
		end := bytes.IndexAny(line, " \t")
		if end < 0 {
			end = len(line)
		}
		out[n], line = line[:end], line[end:]
		n++
	}
	return n
}

// parseRow decodes the fields of one row that spread uses.
func parseRow(f *[10][]byte) (TCPSocket, error) {
	local, err := parseHexAddrPort(f[1])
	if err != nil {
		return TCPSocket{}, err
	}
	state, err := strconv.ParseUint(string(f[3]), 16, 8)
	if err != nil {
		return TCPSocket{}, fmt.Errorf("bad state %q", f[3])
	}
	_, rxHex, _ := bytes.Cut(f[4], []byte(":"))
	rx, err := strconv.ParseUint(string(rxHex), 16, 32)
	if err != nil {
		return TCPSocket{}, fmt.Errorf("bad queues %q", f[4])
	}
	inode, err := strconv.ParseUint(string(f[9]), 10, 64)
	if err != nil {
		return TCPSocket{}, fmt.Errorf("bad inode %q", f[9])
	}
	return TCPSocket{Local: local, State: int(state), RxQueue: int(rx), Inode: inode}, nil
}

// parseHexAddrPort decodes "0100007F:1F40" (127.0.0.1:8000) or its 32-digit
// IPv6 form; see ParseNetTCP for the byte order.
func parseHexAddrPort(s []byte) (netip.AddrPort, error) {
	ipHex, portHex, ok := bytes.Cut(s, []byte(":"))
	var raw [16]byte
	n := len(ipHex) / 2
	if !ok || (n != 4 && n != 16) || len(ipHex)%2 != 0 {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	if _, err := hex.Decode(raw[:n], ipHex); err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	port, err := strconv.ParseUint(string(portHex), 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port in %q", s)
	}
	// hex.Decode gave the digits' order (big-endian); the kernel wrote
	// each word as a host-order integer, so put each back as one.
	for i := 0; i < n; i += 4 {
		binary.NativeEndian.PutUint32(raw[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	if n == 4 {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(raw[:4])), uint16(port)), nil
	}
	return netip.AddrPortFrom(netip.AddrFrom16(raw), uint16(port)), nil
}
