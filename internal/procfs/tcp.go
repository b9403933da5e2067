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
	"strings"
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

// TCP4 reads /proc/net/tcp, the IPv4 sockets of this network namespace.
func TCP4() ([]TCPSocket, error) { return readTable("/proc/net/tcp") }

// TCP6 reads /proc/net/tcp6; it is empty, not an error, when IPv6 is
// disabled and the file is missing.
func TCP6() ([]TCPSocket, error) {
	rows, err := readTable("/proc/net/tcp6")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return rows, err
}

func readTable(path string) ([]TCPSocket, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rows, err := ParseNetTCP(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return rows, nil
}

// ParseNetTCP parses the table format of /proc/net/tcp and /proc/net/tcp6:
// a header line, then rows of
//
//	sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...
//
// with hex addresses "0100007F:1F40". The kernel prints an address as
// 32-bit words in host byte order (a v4 address is one word, a v6 address
// four), so on little-endian machines each word's bytes read backwards.
func ParseNetTCP(r io.Reader) ([]TCPSocket, error) {
	var rows []TCPSocket
	sc := bufio.NewScanner(r)
	// A busy host lists tens of thousands of sockets, mostly TIME_WAIT:
	// parse from the scanner's bytes, with no string per line.
	for sc.Scan() {
		fields := bytes.Fields(sc.Bytes())
		if len(fields) == 0 || string(fields[0]) == "sl" {
			continue
		}
		if len(fields) < 10 {
			return nil, fmt.Errorf("short line %q", sc.Text())
		}
		local, err := parseHexAddrPort(string(fields[1]))
		if err != nil {
			return nil, err
		}
		state, err := strconv.ParseUint(string(fields[3]), 16, 8)
		if err != nil {
			return nil, fmt.Errorf("bad state %q", fields[3])
		}
		_, rxHex, _ := bytes.Cut(fields[4], []byte(":"))
		rx, err := strconv.ParseUint(string(rxHex), 16, 32)
		if err != nil {
			return nil, fmt.Errorf("bad queues %q", fields[4])
		}
		inode, err := strconv.ParseUint(string(fields[9]), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad inode %q", fields[9])
		}
		rows = append(rows, TCPSocket{Local: local, State: int(state), RxQueue: int(rx), Inode: inode})
	}
	return rows, sc.Err()
}

// parseHexAddrPort decodes "0100007F:1F40" (127.0.0.1:8000) or its 32-digit
// IPv6 form; see ParseNetTCP for the byte order.
func parseHexAddrPort(s string) (netip.AddrPort, error) {
	ipHex, portHex, ok := strings.Cut(s, ":")
	raw, err := hex.DecodeString(ipHex)
	if !ok || err != nil || (len(raw) != 4 && len(raw) != 16) {
		return netip.AddrPort{}, fmt.Errorf("bad address %q", s)
	}
	port, err := strconv.ParseUint(portHex, 16, 16)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("bad port in %q", s)
	}
	// hex.DecodeString gave the digits' order (big-endian); the kernel
	// wrote each word as a host-order integer, so put each back as one.
	for i := 0; i < len(raw); i += 4 {
		binary.NativeEndian.PutUint32(raw[i:], binary.BigEndian.Uint32(raw[i:]))
	}
	ip, _ := netip.AddrFromSlice(raw)
	return netip.AddrPortFrom(ip, uint16(port)), nil
}
