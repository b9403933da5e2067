package handler

import (
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

// AccessLog is where a Server writes one JSON line per answered request:
//
//	{"time":"2026-11-29T08:30:00.123Z","remote":"127.0.0.1:50312","method":"GET","path":"/","status":200,"bytes":38,"duration_ms":0.081,"slot":0}
//
// time is when the answer was written, to the millisecond; duration_ms is
// from the handler's start to then; bytes counts the body. Requests the
// engine refuses before the handler runs (a malformed request, headers
// over the limit, a failed TLS handshake) are not in it: the engine's
// error log has them.
//
// Every line is one write(2) on a file opened with O_APPEND, so the
// workers of one server can share a file without interleaving lines.
// Reopen supports logrotate: after the file was renamed, Reopen opens a
// new one at the same path. An AccessLog is safe for concurrent use.
type AccessLog struct {
	path string // "" for standard output
	log  zerolog.Logger

	mu sync.RWMutex // Write holds it shared, Reopen exclusively
	f  *os.File
}

// OpenAccessLog opens path for appending, creating it (mode 0644) if
// needed. "-" means standard output, which Reopen leaves alone.
func OpenAccessLog(path string) (*AccessLog, error) {
	a := &AccessLog{}
	if path == "-" {
		a.f = os.Stdout
	} else {
		f, err := openAppend(path)
		if err != nil {
			return nil, err
		}
		a.path, a.f = path, f
	}
	a.log = zerolog.New(a)
	return a, nil
}

func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("access log: %w", err)
	}
	return f, nil
}

// Reopen opens the log's path again and writes there from now on. If the
// path cannot be opened, the log keeps its current file and the error is
// returned.
func (a *AccessLog) Reopen() error {
	if a.path == "" {
		return nil
	}
	f, err := openAppend(a.path)
	if err != nil {
		return err
	}
	a.mu.Lock()
	old := a.f
	a.f = f
	a.mu.Unlock()
	return old.Close()
}

// Close closes the log's file; standard output stays open.
func (a *AccessLog) Close() error {
	if a.path == "" {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.f.Close()
}

// Write writes one line, as zerolog hands it over.
func (a *AccessLog) Write(p []byte) (int, error) {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.f.Write(p)
}

// accessLine writes a Server's lines into an AccessLog, with its slot.
type accessLine struct {
	log  *AccessLog
	slot int
}

// forSlot returns nil when a is nil: no access log.
func (a *AccessLog) forSlot(slot int) *accessLine {
	if a == nil {
		return nil
	}
	return &accessLine{log: a, slot: slot}
}

// accessTimeFormat is RFC 3339 with milliseconds. zerolog's own time
// format is a process-wide setting, so the access log formats its own.
const accessTimeFormat = "2006-01-02T15:04:05.000Z07:00"

// record writes the line of one request that started at start.
func (l *accessLine) record(start time.Time, remote, method, path string, status, bytes int) {
	now := time.Now()
	var buf [len(accessTimeFormat) + 8]byte
	l.log.log.Log().
		Bytes("time", now.AppendFormat(buf[:0], accessTimeFormat)).
		Str("remote", remote).
		Str("method", method).
		Str("path", path).
		Int("status", status).
		Int("bytes", bytes).
		Float64("duration_ms", float64(now.Sub(start).Microseconds())/1000).
		Int("slot", l.slot).
		Send()
}

// handleLogged is fasthttp's handler when there is an access log.
func (e *fastHTTP) handleLogged(ctx *fasthttp.RequestCtx) {
	start := time.Now()
	if e.user != nil {
		e.serveUser(ctx)
	} else {
		e.handle(ctx)
	}
	e.access.record(start, ctx.RemoteAddr().String(), string(ctx.Method()), string(ctx.Path()),
		ctx.Response.StatusCode(), len(ctx.Response.Body()))
}
