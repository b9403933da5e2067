package handler

import (
	"strconv"
	"strings"
	"testing"
)

// delayReference is the rule delayMillis implements, written the slow and
// obvious way: the first "ms" or "ms=..." pair decides.
func delayReference(query string) (int, bool) {
	for _, pair := range strings.Split(query, "&") {
		if pair == "ms" {
			return 0, false
		}
		if v, ok := strings.CutPrefix(pair, "ms="); ok {
			if v == "" || strings.TrimLeft(v, "0123456789") != "" {
				return 0, false
			}
			v = strings.TrimLeft(v, "0")
			if len(v) > 5 {
				return 0, false
			}
			n, _ := strconv.Atoi("0" + v)
			return n, n <= maxDelayMillis
		}
	}
	return 0, false
}

// FuzzDelayQuery checks the /delay query parser, which reads the raw
// query of any request: both engines' forms agree with each other and
// with the reference, and never accept a value out of range.
func FuzzDelayQuery(f *testing.F) {
	for _, s := range []string{"ms=100", "ms=60000", "ms=60001", "ms=-1", "ms=%31", "ms", "ms=", "a=1&ms=5", "ms=1&ms=2", "msx=3&ms=4", "ms=00000000000000000000001", "&&ms=7", "ms=1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		n, ok := delayMillis(query)
		nb, okb := delayMillis([]byte(query))
		if n != nb || ok != okb {
			t.Fatalf("delayMillis(%q): string form %d %v, bytes form %d %v", query, n, ok, nb, okb)
		}
		if ok && (n < 0 || n > maxDelayMillis) {
			t.Fatalf("delayMillis(%q) accepted %d", query, n)
		}
		if rn, rok := delayReference(query); rok != ok || (ok && rn != n) {
			t.Fatalf("delayMillis(%q) = %d %v, reference says %d %v", query, n, ok, rn, rok)
		}
	})
}
