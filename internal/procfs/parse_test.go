package procfs

import (
	"strings"
	"testing"
)

// row is a /proc/net/tcp line with the given local address, state and
// inode, cut to n fields (at least 10).
func row(local, state, inode string, n int) string {
	f := []string{"0:", local, "00000000:0000", state, "00000000:00000000", "00:00000000", "00000000", "0", "0", inode,
		"1", "0000000000000000", "100", "0", "0", "10", "0"}
	return strings.Join(f[:n], " ")
}

func TestParseNetTCPNeedsTenFields(t *testing.T) {
	rows, err := ParseNetTCP(strings.NewReader(row("0100007F:1F40", "0A", "42", 10)+"\n\n"), nil)
	if err != nil || len(rows) != 1 || rows[0].Inode != 42 || rows[0].State != TCPListen {
		t.Fatalf("a ten-field row: %v, %v", rows, err)
	}
	if _, err := ParseNetTCP(strings.NewReader(row("0100007F:1F40", "0A", "42", 10)[:40]), nil); err == nil || !strings.Contains(err.Error(), "short line") {
		t.Fatalf("a nine-field row: %v, want short line", err)
	}
}

func TestParseNetTCPRefusesBadFields(t *testing.T) {
	for _, c := range []struct{ name, line, want string }{
		{"address not hex", row("0100007G:1F40", "0A", "1", 17), "bad address"},
		{"address of 3 bytes", row("01007F:1F40", "0A", "1", 17), "bad address"},
		{"no port", row("0100007F", "0A", "1", 17), "bad address"},
		{"port not hex", row("0100007F:XYZ", "0A", "1", 17), "bad port"},
		{"port too big", row("0100007F:10000", "0A", "1", 17), "bad port"},
		{"state", row("0100007F:1F40", "LISTEN", "1", 17), "bad state"},
		{"state too big", row("0100007F:1F40", "100", "1", 17), "bad state"},
		{"inode", row("0100007F:1F40", "0A", "x", 17), "bad inode"},
	} {
		if _, err := ParseNetTCP(strings.NewReader(c.line), nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// TestParseNetTCPAllocatesPerKeptRowOnly: the supervisor reads the whole
// table of a busy host at start, and every byte it allocates then raises
// the runtime's bookkeeping for good; a row it does not keep costs
// nothing.
func TestParseNetTCPAllocatesPerKeptRowOnly(t *testing.T) {
	var b strings.Builder
	b.WriteString("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n")
	for i := range 5000 {
		b.WriteString(row("0100007F:1F40", "06", "0", 17) + "\n")
		if i == 2500 {
			b.WriteString(row("0100007F:1F41", "0A", "42", 17) + "\n")
		}
	}
	table := b.String()
	listening := func(r TCPSocket) bool { return r.State == TCPListen }
	var rows []TCPSocket
	allocs := testing.AllocsPerRun(5, func() {
		var err error
		if rows, err = ParseNetTCP(strings.NewReader(table), listening); err != nil {
			t.Fatal(err)
		}
	})
	if len(rows) != 1 || rows[0].Local.Port() != 0x1F41 || rows[0].Inode != 42 {
		t.Fatalf("kept %+v, want the one LISTEN row", rows)
	}
	// The scanner's buffer and the kept row.
	if allocs > 4 {
		t.Errorf("%.0f allocations to parse 5001 rows and keep one, want at most 4", allocs)
	}
}
