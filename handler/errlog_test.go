package handler

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/spreadhttp/spread/internal/spreadtest"
)

// syncBuffer is a bytes.Buffer safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serveLogged serves engine on loopback with its log written to out at
// level; cleanup drains it.
func serveLogged(t *testing.T, engine string, out io.Writer, level zerolog.Level) string {
	t.Helper()
	srv, err := New(Options{Engine: engine, Log: zerolog.New(out).Level(level)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
	})
	return ln.Addr().String()
}

// 500 requests of 8 KB junk once wrote 21.6 MB of error log from the
// fasthttp engine. A client's garbage is now a debug event with a bounded
// excerpt, at most logBurst of them a second.
func TestJunkRequestsKeepTheLogSmall(t *testing.T) {
	for _, engine := range Engines {
		t.Run(testName(engine), func(t *testing.T) {
			for _, level := range []zerolog.Level{zerolog.DebugLevel, zerolog.InfoLevel} {
				out := &syncBuffer{}
				addr := serveLogged(t, engine, out, level)
				began := time.Now()
				spreadtest.SendJunk(t, addr, 500, 8<<10)
				// The limiter allows logBurst events per window begun.
				windows := int(time.Since(began)/logWindow) + 1
				log := out.String()
				lines := strings.Count(log, "\n")
				t.Logf("level %s: %d bytes, %d lines of log in %d windows", level, len(log), lines, windows)
				if lines > logBurst*windows || len(log) > lines*(maxLogDetail+256) {
					t.Fatalf("level %s: 500 junk requests wrote %d lines, %d bytes of log; want at most %d lines of at most %d bytes:\n%.2000s",
						level, lines, len(log), logBurst*windows, maxLogDetail+256, log)
				}
				sc := bufio.NewScanner(strings.NewReader(log))
				sc.Buffer(make([]byte, 1<<20), 1<<20)
				for sc.Scan() {
					var ev map[string]any
					if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
						t.Fatalf("log line is not JSON: %v: %s", err, sc.Text())
					}
					if ev["level"] != "debug" || ev["message"] != "client error" {
						t.Fatalf("level %s: junk from a client logged as %v %q, want debug \"client error\"", level, ev["level"], ev["message"])
					}
					if d, _ := ev["detail"].(string); len(d) > maxLogDetail+32 {
						t.Fatalf("detail of %d bytes, want at most %d", len(d), maxLogDetail)
					}
				}
				if level == zerolog.InfoLevel && log != "" {
					t.Fatalf("at info level, junk from clients was logged:\n%s", log)
				}
			}
		})
	}
}

func TestEngineLogWritesABurstPerWindowAndCountsTheRest(t *testing.T) {
	out := &syncBuffer{}
	l := newEngineLog(zerolog.New(out).Level(zerolog.DebugLevel), engineNetHTTP)
	now := time.Unix(1000, 0)
	l.now = func() time.Time { return now }
	for range logBurst + 5 {
		_, _ = l.Write([]byte("http: something failed\n"))
	}
	if n := strings.Count(out.String(), "\n"); n != logBurst {
		t.Fatalf("%d events written in one window, want %d", n, logBurst)
	}
	now = now.Add(logWindow)
	l.Printf(clientErrorPrefix+" %q<->%q: %s", "a", "b", strings.Repeat("é", 1000))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var last struct {
		Level      string `json:"level"`
		Suppressed int    `json:"suppressed"`
		Detail     string `json:"detail"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil {
		t.Fatal(err)
	}
	if len(lines) != logBurst+1 || last.Suppressed != 5 || last.Level != "debug" {
		t.Fatalf("after the window: %d lines, last %+v; want %d lines, the last a client error carrying suppressed=5", len(lines), last, logBurst+1)
	}
	if !strings.HasSuffix(last.Detail, " bytes)") || len(last.Detail) > maxLogDetail+32 {
		t.Fatalf("a client error's detail of over 2000 bytes became %d bytes: %q", len(last.Detail), last.Detail)
	}
}

// A server error (a handler's panic, with its stack) keeps its detail up
// to maxServerLogDetail: it is not the client's to amplify.
func TestEngineLogKeepsAServerErrorsStack(t *testing.T) {
	out := &syncBuffer{}
	l := newEngineLog(zerolog.New(out), engineNetHTTP)
	stack := "http: panic serving 127.0.0.1:1: boom\n" + strings.Repeat("goroutine 1 [running]:\n", 150)
	_, _ = l.Write([]byte(stack))
	_, _ = l.Write([]byte(strings.Repeat("x", 2*maxServerLogDetail)))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var ev [2]struct{ Detail string }
	for i := range ev {
		if err := json.Unmarshal([]byte(lines[i]), &ev[i]); err != nil {
			t.Fatal(err)
		}
	}
	if ev[0].Detail != strings.TrimRight(stack, "\n") {
		t.Fatalf("a %d-byte stack was cut to %d bytes", len(stack), len(ev[0].Detail))
	}
	if n := len(ev[1].Detail); n > maxServerLogDetail+32 {
		t.Fatalf("a server error's detail of %d bytes was kept at %d", 2*maxServerLogDetail, n)
	}
}

// A failed TLS handshake is the client's doing: on an internet-facing
// server scanners make them all day, so they are client errors at debug
// level, unseen at info.
func TestFailedTLSHandshakeIsAClientErrorAtDebug(t *testing.T) {
	line := []byte(netHTTPClientErrorPrefix + "198.51.100.7:4242: tls: first record does not look like a TLS handshake\n")
	out := &syncBuffer{}
	_, _ = newEngineLog(zerolog.New(out).Level(zerolog.InfoLevel), engineNetHTTP).Write(line)
	if out.String() != "" {
		t.Fatalf("a failed handshake was logged at info: %s", out)
	}
	_, _ = newEngineLog(zerolog.New(out).Level(zerolog.DebugLevel), engineNetHTTP).Write(line)
	if !strings.Contains(out.String(), `"level":"debug"`) || !strings.Contains(out.String(), `"message":"client error"`) {
		t.Fatalf("a failed handshake at debug level: %s", out)
	}
}
