package handler

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// excerpt keeps a detail of up to n bytes whole and cuts a longer one on
// a rune boundary at or below n, saying how long it was.
func TestExcerptCutsOnlyPastTheLimitAndOnARuneBoundary(t *testing.T) {
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"abcd", 4, "abcd"},
		{"abcde", 4, "abcd… (5 bytes)"},
		{"", 0, ""},
		{"ab", 0, "… (2 bytes)"},
		{"aé", 2, "a… (3 bytes)"},   // é is 2 bytes: the cut moves back to 1
		{"aéb", 3, "aé… (4 bytes)"}, // the cut at 3 is a rune start
		// Not UTF-8 at all: no rune start to cut at but the very first.
		{"\x80\x80\x80", 2, "… (3 bytes)"},
	} {
		got := excerpt(c.in, c.n)
		if got != c.want {
			t.Errorf("excerpt(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
		if utf8.ValidString(c.in) && !utf8.ValidString(got) {
			t.Errorf("excerpt(%q, %d) = %q is not valid UTF-8", c.in, c.n, got)
		}
	}
	long := strings.Repeat("é", 200)
	if got := excerpt(long, maxLogDetail); !strings.HasSuffix(got, "… (400 bytes)") || len(got) > maxLogDetail+len("… (400 bytes)") {
		t.Errorf("excerpt of 400 bytes at %d: %d bytes", maxLogDetail, len(got))
	}
}
