package reuseport

import (
	"os"
	"path/filepath"
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
	rows, err := parseNetTCP(strings.NewReader(row("0100007F:1F40", "0A", "42", 10) + "\n\n"))
	if err != nil || len(rows) != 1 || rows[0].inode != 42 || rows[0].state != tcpListen {
		t.Fatalf("a ten-field row: %v, %v", rows, err)
	}
	if _, err := parseNetTCP(strings.NewReader(row("0100007F:1F40", "0A", "42", 10)[:40])); err == nil || !strings.Contains(err.Error(), "short line") {
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
		if _, err := parseNetTCP(strings.NewReader(c.line)); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// useTables points listeningSockets at tables written by the test; an
// empty content means that table is missing.
func useTables(t *testing.T, v4, v6 string) {
	t.Helper()
	dir := t.TempDir()
	saved := procNetTCP
	t.Cleanup(func() { procNetTCP = saved })
	for i, content := range []string{v4, v6} {
		p := filepath.Join(dir, []string{"tcp", "tcp6"}[i])
		procNetTCP[i] = p
		if content == "" {
			continue
		}
		if err := os.WriteFile(p, []byte("  sl local_address ...\n"+content+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestListeningSocketsKeepsOnlyListenersAndDoesWithoutIPv6(t *testing.T) {
	useTables(t, row("0100007F:1F40", "0A", "7", 17)+"\n"+row("0100007F:1F41", "01", "8", 17), "")
	got, err := listeningSockets()
	if err != nil || len(got) != 1 || got[0].inode != 7 {
		t.Fatalf("without tcp6: %v, %v; want the one listener, inode 7", got, err)
	}
	useTables(t, "", row("00000000000000000000000001000000:1F40", "0A", "9", 17))
	if _, err := listeningSockets(); err == nil {
		t.Fatal("without /proc/net/tcp: no error")
	}
	useTables(t, "junk line", row("00000000000000000000000001000000:1F40", "0A", "9", 17))
	if _, err := listeningSockets(); err == nil || !strings.Contains(err.Error(), procNetTCP[0]) {
		t.Fatalf("a bad table: %v, want an error naming it", err)
	}
}
