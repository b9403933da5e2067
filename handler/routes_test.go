package handler

import (
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNewRejectsUnknownEngine(t *testing.T) {
	_, err := New(Options{Engine: "x"})
	want := `--engine must be one of net/http, fasthttp, got "x"`
	if err == nil || err.Error() != want {
		t.Fatalf("New(Engine: x) = %v, want %q", err, want)
	}
}

func TestEnginesAreAllAccepted(t *testing.T) {
	for _, engine := range append([]string{""}, Engines...) {
		if _, err := New(Options{Engine: engine}); err != nil {
			t.Errorf("New(Engine: %q): %v", engine, err)
		}
	}
}

func TestZeroPidMeansThisProcess(t *testing.T) {
	p := newPages(1, os.Getpid())
	srv, err := New(Options{Slot: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := srv.engine.(*netHTTP)
	if string(got.hello.body) != string(p.hello.body) || got.xWorker[0] != "1/"+strconv.Itoa(os.Getpid()) {
		t.Fatalf("body %q, X-Worker %q; want pid %d", got.hello.body, got.xWorker[0], os.Getpid())
	}
}

func TestDelayMillisParsesOnlyPlainIntegersInRange(t *testing.T) {
	tests := []struct {
		query string
		ms    int
		ok    bool
	}{
		{"ms=0", 0, true},
		{"ms=50", 50, true},
		{"ms=60000", 60000, true},
		{"x=1&ms=7", 7, true},
		{"ms=7&ms=9", 7, true},
		{"mss=3&ms=4", 4, true},
		{"", 0, false},
		{"ms", 0, false},
		{"ms=", 0, false},
		{"ms=abc", 0, false},
		{"ms=-1", 0, false},
		{"ms=+1", 0, false},
		{"ms=60001", 0, false},
		{"ms=99999999999999999999999", 0, false},
		{"ms=1.5", 0, false},
		{"ms=%35", 0, false},
		{"xms=5", 0, false},
	}
	for _, tt := range tests {
		ms, ok := delayMillis(tt.query)
		if ms != tt.ms || ok != tt.ok {
			t.Errorf("delayMillis(%q) = %d, %v; want %d, %v", tt.query, ms, ok, tt.ms, tt.ok)
		}
		if bms, bok := delayMillis([]byte(tt.query)); bms != ms || bok != ok {
			t.Errorf("delayMillis([]byte(%q)) = %d, %v; string gave %d, %v", tt.query, bms, bok, ms, ok)
		}
	}
}

func TestRoutesAnswerTheSameInBothEngines(t *testing.T) {
	const reason = "ms must be an integer between 0 and 60000"
	tests := []struct {
		name    string
		target  string
		status  int
		body    string
		typed   bool          // carries Content-Type text/plain
		counted bool          // reported to RequestDone
		atLeast time.Duration // minimum answer time
	}{
		{"root", "/", 200, hello, true, true, 0},
		{"any path", "/some/page?q=1", 200, hello, true, true, 0},
		{"favicon", "/favicon.ico", 204, "", false, false, 0},
		{"healthz", "/healthz", 200, "ok", true, true, 0},
		{"delay 50ms", "/delay?ms=50", 200, hello, true, true, 50 * time.Millisecond},
		{"delay 0ms", "/delay?ms=0", 200, hello, true, true, 0},
		{"delay not an integer", "/delay?ms=abc", 400, reason, true, true, 0},
		{"delay negative", "/delay?ms=-1", 400, reason, true, true, 0},
		{"delay too long", "/delay?ms=60001", 400, reason, true, true, 0},
		{"delay without ms", "/delay", 400, reason, true, true, 0},
	}
	for _, engine := range Engines {
		t.Run(testName(engine), func(t *testing.T) {
			r := start(t, engine, nil)
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					before := r.rec.byStatus[tt.status].Load()
					began := time.Now()
					resp, err := hc.Get("http://" + r.addr + tt.target)
					if err != nil {
						t.Fatalf("GET %s: %v", tt.target, err)
					}
					body, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil {
						t.Fatalf("read body: %v", err)
					}
					if took := time.Since(began); took < tt.atLeast {
						t.Errorf("answered in %v, want at least %v", took, tt.atLeast)
					}
					if resp.StatusCode != tt.status || string(body) != tt.body {
						t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tt.status, tt.body)
					}
					if strings.Contains(string(body), "\n") {
						t.Errorf("body %q has a newline, want one line", body)
					}
					if got := resp.Header.Get("X-Worker"); got != xWorker {
						t.Errorf("X-Worker = %q, want %q", got, xWorker)
					}
					wantType := ""
					if tt.typed {
						wantType = contentType
					}
					if got := resp.Header.Get("Content-Type"); got != wantType {
						t.Errorf("Content-Type = %q, want %q", got, wantType)
					}
					if tt.status == 204 && resp.Header.Get("Content-Length") != "" {
						t.Errorf("204 carries Content-Length %q", resp.Header.Get("Content-Length"))
					}
					if resp.Close {
						t.Error("response carries Connection: close before any Shutdown")
					}
					want := before
					if tt.counted {
						want++
					}
					if got := r.rec.byStatus[tt.status].Load(); got != want {
						t.Errorf("RequestDone(%d) count went %d -> %d, want %d", tt.status, before, got, want)
					}
				})
			}
		})
	}
}

func TestRecorderCountsEveryRequestAndPairsConnections(t *testing.T) {
	const n = 25
	for _, engine := range Engines {
		t.Run(testName(engine), func(t *testing.T) {
			r := start(t, engine, nil)
			tr := &http.Transport{MaxIdleConnsPerHost: 4}
			hc := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			for i := range n {
				target := "/"
				if i%5 == 0 {
					target = "/favicon.ico" // answered, never counted
				}
				for _, p := range []string{"/page" + strconv.Itoa(i), target} {
					resp, err := hc.Get("http://" + r.addr + p)
					if err != nil {
						t.Fatalf("GET %s: %v", p, err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
			// RequestDone runs before the response is sent, so the count is
			// exact as soon as the last response has arrived.
			if got, want := r.rec.requests.Load(), int64(2*n-n/5); got != want {
				t.Fatalf("RequestDone called %d times, want %d", got, want)
			}
			tr.CloseIdleConnections()
			waitFor(t, "ConnClosed to match ConnOpened after the client closed", 2*time.Second, func() bool {
				return r.rec.opened.Load() > 0 && r.rec.opened.Load() == r.rec.closed.Load()
			})
		})
	}
}
