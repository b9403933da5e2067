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
	rows, err := ParseNetTCP(strings.NewReader(row("0100007F:1F40", "0A", "42", 10) + "\n\n"))
	if err != nil || len(rows) != 1 || rows[0].Inode != 42 || rows[0].State != TCPListen {
		t.Fatalf("a ten-field row: %v, %v", rows, err)
	}
	if _, err := ParseNetTCP(strings.NewReader(row("0100007F:1F40", "0A", "42", 10)[:40])); err == nil || !strings.Contains(err.Error(), "short line") {
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
		if _, err := ParseNetTCP(strings.NewReader(c.line)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}
