package handler

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestLeavingServerFailsOnlyItsHealthCheckAndClosesThatConnection checks,
// in both engines, that a leaving server answers /healthz with 503 and
// Connection: close while "/" keeps its keep-alive connection.
func TestLeavingServerFailsOnlyItsHealthCheckAndClosesThatConnection(t *testing.T) {
	for _, engine := range Engines {
		t.Run(testName(engine), func(t *testing.T) {
			var leaving atomic.Bool
			rec := &countingRecorder{}
			srv, err := New(Options{Slot: testSlot, Pid: testPid, Engine: engine, Recorder: rec,
				Leaving: leaving.Load, Log: zerolog.New(zerolog.NewTestWriter(t))})
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatalf("listen: %v", err)
			}
			r := &running{srv: srv, rec: rec, addr: ln.Addr().String(), served: make(chan error, 1)}
			go func() { r.served <- srv.Serve(ln) }()
			t.Cleanup(func() { <-r.shutdown(5 * time.Second) })

			c := dial(t, r.addr)
			c.send(pathHealth)
			if resp, body := c.response(); resp.StatusCode != 200 || body != "ok" || resp.Close {
				t.Fatalf("/healthz before leaving: %d %q close=%v, want 200 \"ok\" kept open", resp.StatusCode, body, resp.Close)
			}
			leaving.Store(true)
			c.send("/")
			resp, body := c.response()
			expectHello(t, resp, body)
			if resp.Close {
				t.Fatal("/ while leaving carries Connection: close")
			}
			c.send(pathHealth)
			resp, body = c.response()
			if resp.StatusCode != 503 || body != "draining" || !resp.Close {
				t.Fatalf("/healthz while leaving: %d %q close=%v, want 503 \"draining\" with Connection: close", resp.StatusCode, body, resp.Close)
			}
			if got := resp.Header.Get("X-Worker"); got != xWorker {
				t.Fatalf("X-Worker = %q, want %q", got, xWorker)
			}
			c.expectClosed()
			if n := rec.byStatus[503].Load(); n != 1 {
				t.Fatalf("recorded %d 503 answers, want 1", n)
			}
		})
	}
}
