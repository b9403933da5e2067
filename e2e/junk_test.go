package e2e

import (
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/spreadtest"
)

// 500 requests of 8 KB junk to the fasthttp engine once wrote 21.6 MB of
// error log. Even at debug level the log now stays small, and the junk
// still gets its 400s without hurting the server.
func TestJunkToTheFasthttpEngineKeepsTheLogSmall(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "1", "--engine", "fasthttp", "--log-level", "debug")
	s.WaitOnline(1, 10*time.Second)
	before := len(s.Log().String())
	began := time.Now()
	spreadtest.SendJunk(t, s.Addr, 500, 8<<10)
	// At most 20 events of about 500 bytes per second begun.
	limit := 20 * 600 * (int(time.Since(began)/time.Second) + 1)
	if r, err := s.Get("/"); err != nil || r.Status != 200 {
		t.Fatalf("GET / after the junk: %v %d", err, r.Status)
	}
	grew := len(s.Log().String()) - before
	t.Logf("500 junk requests: %d bytes of log", grew)
	if grew > limit {
		t.Fatalf("500 junk requests wrote %d bytes of log, want at most %d", grew, limit)
	}
	if n := len(s.Log().Events("client error")); n == 0 {
		t.Fatal("no client error event at debug level: the junk was not seen")
	}
	if n := len(s.Log().Events("http server error")); n != 0 {
		t.Fatalf("%d client errors logged as server errors", n)
	}
}
