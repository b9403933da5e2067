package supervisor

import "testing"

// A bare port means loopback: metrics reach the network only when a host
// is named.
func TestMetricsAddrBindsABarePortToLoopback(t *testing.T) {
	for in, want := range map[string]string{
		"":             "",
		"9100":         "127.0.0.1:9100",
		":9100":        "127.0.0.1:9100",
		"0.0.0.0:9100": "0.0.0.0:9100",
		"[::1]:9100":   "[::1]:9100",
		"host:9100":    "host:9100",
	} {
		if got := MetricsAddr(in); got != want {
			t.Errorf("MetricsAddr(%q) = %q, want %q", in, got, want)
		}
	}
}
