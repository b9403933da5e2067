package handler

import "testing"

// A last pair shorter than "ms" must not be read past its end, and "ms="
// with no digits is no value (not 0).
func TestDelayMillisReadsNoPairPastTheQuerysEnd(t *testing.T) {
	for _, q := range []string{"m", "a&m", "x=1&m", "&", "a&", "ms=", "a&ms=", "ms=&ms=5"} {
		if ms, ok := delayMillis(q); ok {
			t.Errorf("delayMillis(%q) = %d, true; want no ms", q, ms)
		}
		if ms, ok := delayMillis([]byte(q)); ok {
			t.Errorf("delayMillis([]byte(%q)) = %d, true; want no ms", q, ms)
		}
	}
	for q, want := range map[string]int{"a&ms=7": 7, "ms=9": 9, "ms=90": 90, "ms=0": 0, "ms=09": 9} {
		if ms, ok := delayMillis(q); !ok || ms != want {
			t.Errorf("delayMillis(%q) = %d, %v; want %d", q, ms, ok, want)
		}
	}
}
