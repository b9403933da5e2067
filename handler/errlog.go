package handler

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"
)

// engineLog turns the error lines an engine logs (net/http's ErrorLog,
// fasthttp's Logger) into zerolog events.
//
// A client can make an engine log: fasthttp reports every connection it
// could not serve (a malformed request, a read timeout), quoting the bytes
// it received. Left as it was, 500 requests of 8 KB junk wrote 21 MB of
// error log in half a second. So:
//   - a client's error is logged at debug level ("client error"), not as a
//     server error, and is not even formatted unless debug is on;
//   - a client error's detail is cut to maxLogDetail bytes, a server
//     error's (a panic's stack, say) to maxServerLogDetail;
//   - at most logBurst events are written per logWindow; the next event
//     written after a window that dropped some carries their number as
//     "suppressed".
type engineLog struct {
	log    zerolog.Logger
	engine string

	mu         sync.Mutex
	now        func() time.Time
	windowEnd  time.Time
	written    int // events written in the current window
	suppressed int // events dropped since the last one written
}

const (
	// maxLogDetail bounds the detail of a client error, in bytes.
	maxLogDetail = 256
	// maxServerLogDetail bounds the detail of any other engine error.
	maxServerLogDetail = 16 << 10
	// logBurst events per logWindow are written at most, per process.
	logBurst  = 20
	logWindow = time.Second
)

func newEngineLog(log zerolog.Logger, engine string) *engineLog {
	return &engineLog{log: log, engine: engine, now: time.Now}
}

// clientErrorPrefix starts fasthttp's message for a connection it could
// not serve: what the client sent, or failed to send in time.
const clientErrorPrefix = "error when serving connection"

// Printf implements fasthttp.Logger.
func (l *engineLog) Printf(format string, args ...any) {
	client := strings.HasPrefix(format, clientErrorPrefix)
	if client && (l.log.GetLevel() > zerolog.DebugLevel || zerolog.GlobalLevel() > zerolog.DebugLevel) {
		return
	}
	l.event(client, fmt.Sprintf(format, args...))
}

// netHTTPClientErrorPrefix starts net/http's line for a TLS handshake a
// client failed (a scanner, an old client, a closed connection): on an
// internet-facing server, a constant stream that is not the server's fault.
const netHTTPClientErrorPrefix = "http: TLS handshake error from "

// Write takes one line from a log.Logger, as net/http's ErrorLog writes it.
func (l *engineLog) Write(p []byte) (int, error) {
	client := bytes.HasPrefix(p, []byte(netHTTPClientErrorPrefix))
	if client && (l.log.GetLevel() > zerolog.DebugLevel || zerolog.GlobalLevel() > zerolog.DebugLevel) {
		return len(p), nil
	}
	l.event(client, string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func (l *engineLog) event(client bool, detail string) {
	suppressed, ok := l.admit()
	if !ok {
		return
	}
	ev, msg, limit := l.log.Error(), "http server error", maxServerLogDetail
	if client {
		ev, msg, limit = l.log.Debug(), "client error", maxLogDetail
	}
	if suppressed > 0 {
		ev = ev.Int("suppressed", suppressed)
	}
	ev.Str("engine", l.engine).Str("detail", excerpt(detail, limit)).Msg(msg)
}

// admit reports whether one more event may be written now, and how many
// were dropped since the last one written.
func (l *engineLog) admit() (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := l.now(); !now.Before(l.windowEnd) {
		l.windowEnd, l.written = now.Add(logWindow), 0
	}
	if l.written >= logBurst {
		l.suppressed++
		return 0, false
	}
	l.written++
	suppressed, l.suppressed = l.suppressed, 0
	return suppressed, true
}

// excerpt cuts s to at most n bytes, on a rune boundary, and says how
// long it was.
func excerpt(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + fmt.Sprintf("… (%d bytes)", len(s))
}
