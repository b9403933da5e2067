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
	if ms, ok := delayMillis("a&ms=7"); !ok || ms != 7 {
		t.Errorf("delayMillis(a&ms=7) = %d, %v", ms, ok)
	}
}
