package procfs

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseNetTCPDecodesHostOrderWords(t *testing.T) {
	if binary.NativeEndian.Uint16([]byte{1, 0}) != 1 {
		t.Skip("fixture is from a little-endian machine")
	}
	const v4 = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F40 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 9051 1 0000000000000000 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F40 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000  1000        0 0 1 0000000000000000 20 4 30 10 -1
`
	const v6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F40 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 777 1 0000000000000000 100 0 0 10 0
   1: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 778 1 0000000000000000 100 0 0 10 0
   2: 0000000000000000FFFF00000100007F:1F41 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 779 1 0000000000000000 100 0 0 10 0
   3: 000080FE00000000FF000002030000FE:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 780 1 0000000000000000 100 0 0 10 0
`
	want := []TCPSocket{
		{netip.MustParseAddrPort("127.0.0.1:8000"), TCPListen, 0, 9051},
		{netip.MustParseAddrPort("0.0.0.0:22"), TCPListen, 0, 123},
		{netip.MustParseAddrPort("127.0.0.1:8000"), TCPEstablished, 0, 0},
		{netip.MustParseAddrPort("[::1]:8000"), TCPListen, 0, 777},
		{netip.MustParseAddrPort("[::]:80"), TCPListen, 0, 778},
		{netip.MustParseAddrPort("[::ffff:127.0.0.1]:8001"), TCPListen, 0, 779},
		{netip.MustParseAddrPort("[fe80::200:ff:fe00:3]:80"), TCPListen, 0, 780},
	}
	var got []TCPSocket
	for _, table := range []string{v4, v6} {
		rows, err := ParseNetTCP(strings.NewReader(table), nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, rows...)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("parsed\n%s\nwant\n%s", rowsText(got), rowsText(want))
	}
}

func rowsText(rows []TCPSocket) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "  %s state %02X inode %d\n", r.Local, r.State, r.Inode)
	}
	return b.String()
}

func TestListenerRowShowsItsAcceptQueue(t *testing.T) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	local := netip.MustParseAddrPort(ln.Addr().String())
	for range 3 {
		c, err := net.Dial("tcp4", local.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		rows, err := TCP4(nil)
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(rows, func(r TCPSocket) bool { return r.Local == local && r.State == TCPListen })
		if i < 0 {
			t.Fatalf("no LISTEN row for %s", local)
		}
		if rows[i].RxQueue == 3 && rows[i].Inode != 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("listener row %+v, want 3 queued connections and an inode", rows[i])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
