package main

import "testing"

func TestParseSizeReadsBinaryUnits(t *testing.T) {
	good := map[string]uint64{
		"": 0, "0": 0, "4096": 4096, "512K": 512 << 10, "512kb": 512 << 10, "64M": 64 << 20,
		"64MiB": 64 << 20, " 2G ": 2 << 30, "1t": 1 << 40,
	}
	for in, want := range good {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"M", "-1M", "1.5G", "12X", "99999999999999T"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}
