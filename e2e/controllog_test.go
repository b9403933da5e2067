package e2e

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spreadhttp/spread/internal/spreadtest"
)

// Out of descriptors, the metrics server cannot accept, and net/http logs
// it; with --log-format json that must be a JSON event like every other
// line, not a line of the standard logger.
func TestMetricsServerErrorsAreLogEvents(t *testing.T) {
	metrics := fmt.Sprintf("127.0.0.1:%d", spreadtest.FreePort(t))
	s := spreadtest.Start(t, "--workers", "1", "--metrics-addr", metrics)
	s.WaitOnline(1, 10*time.Second)

	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	var old unix.Rlimit
	if err := unix.Prlimit(s.Pid(), unix.RLIMIT_NOFILE, nil, &old); err != nil {
		t.Fatal(err)
	}
	// Room for two more descriptors, then the supervisor is out.
	tight := unix.Rlimit{Cur: uint64(len(fds) + 2), Max: old.Max}
	if err := unix.Prlimit(s.Pid(), unix.RLIMIT_NOFILE, &tight, nil); err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range 8 {
		c, err := net.DialTimeout("tcp", metrics, time.Second)
		if err != nil {
			t.Fatalf("dial metrics: %v", err)
		}
		conns = append(conns, c)
	}
	spreadtest.Eventually(t, 5*time.Second, "an accept error logged as an 'http server error' event", func() bool {
		for _, ev := range s.Log().Events("http server error") {
			if d, _ := ev["detail"].(string); strings.Contains(d, "Accept error") && ev["server"] == "metrics" {
				return true
			}
		}
		return false
	})
	if err := unix.Prlimit(s.Pid(), unix.RLIMIT_NOFILE, &old, nil); err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(s.Log().String(), "\n") {
		if strings.Contains(line, "http: ") && !strings.HasPrefix(line, "{") {
			t.Fatalf("a plain-text log line in a JSON log: %q", line)
		}
	}
}
