package reuseport

import (
	"os"
	"strings"
	"testing"
)

func TestCommandTextIsTheCommandLineOnOneShortLine(t *testing.T) {
	comm := func() []byte { return []byte("kworker/0:1\n") }
	eighty := strings.Repeat("x", maxCommandLen)
	for _, c := range []struct {
		name, cmdline, want string
	}{
		{"arguments", "python3\x00-m\x00http.server\x008000\x00", "python3 -m http.server 8000"},
		{"empty: the process name", "", "kworker/0:1"},
		{"blank: the process name", "\x00\x00 \x00", "kworker/0:1"},
		{"control characters", "sh\x00-c\x00echo a\nb\tc", "sh -c echo a b c"},
		{"exactly the limit", eighty, eighty},
		{"one past the limit", eighty + "y", strings.Repeat("x", maxCommandLen-1) + "…"},
		{"runes, not bytes", strings.Repeat("é", maxCommandLen), strings.Repeat("é", maxCommandLen)},
	} {
		if got := commandText([]byte(c.cmdline), comm); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
}

// The command line of a live process, not its 15-character name.
func TestProcessCommandReadsTheCommandLine(t *testing.T) {
	want := strings.Join(os.Args, " ")
	if n := maxCommandLen - 1; len([]rune(want)) > n {
		want = string([]rune(want)[:n])
	}
	if got := processCommand(os.Getpid()); !strings.HasPrefix(got, want) {
		t.Fatalf("processCommand(self) = %q, want it to start %q", got, want)
	}
}
