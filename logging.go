package main

import (
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/rs/zerolog/diode"
)

// Logging must never stop or kill supervision. Two things could:
//
//   - A reader of stdout/stderr that exits (`spread serve 2>&1 | head`):
//     the next write to the broken pipe raises SIGPIPE, and Go's runtime
//     lets SIGPIPE on fd 1 or 2 kill the process unless the program asks
//     for SIGPIPE with signal.Notify; then the write fails with EPIPE,
//     which the log writer drops. Notify, not signal.Ignore: an ignored
//     signal stays ignored across fork and execve, and a program run with
//     `-- CMD` must start with the default disposition.
//   - A reader that stalls: once the pipe buffer is full, write(2) blocks,
//     and with it whatever goroutine logs, the supervisor loop included.
//     Every log line therefore goes through a diode: a bounded ring that a
//     goroutine of its own drains into the real writer. Writing to it never
//     blocks; when the ring is full the oldest lines are overwritten and
//     counted, and the count is logged as "log lines dropped" as soon as
//     the writer keeps up again.

// logBuffer is how many log lines wait for a slow writer before the oldest
// are dropped.
const logBuffer = 1000

// logFlushTimeout bounds how long an exiting process waits for its last
// log lines to reach a writer that may be stalled.
const logFlushTimeout = time.Second

// logSink is the non-blocking writer every log line of this process goes
// through.
type logSink struct {
	diode diode.Writer
}

// newLogSink returns a sink draining into out, which only its own
// goroutine writes to, and keeps SIGPIPE from killing the process.
// build makes a logger with the format of the process's loggers on a
// writer; the sink uses it to report dropped lines straight to out.
func newLogSink(out io.Writer, size int, build func(io.Writer) zerolog.Logger) *logSink {
	// Never read: SIGPIPEs are dropped once it is full.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	// The diode closes its writer on Close; stderr must stay open for the
	// last "spread: …" line.
	out = struct{ io.Writer }{out}
	// The alert runs on the diode's goroutine, the only one writing to
	// out, so the report lands in order and never waits in the ring
	// itself.
	direct := build(out)
	alert := func(missed int) {
		direct.Warn().Int("dropped", missed).Msg("log lines dropped")
	}
	// A zero poll interval wakes the drainer only when a line is written:
	// an idle supervisor stays asleep.
	return &logSink{diode: diode.NewWriter(out, size, 0, alert)}
}

// Write queues p and never blocks; it implements io.Writer.
func (s *logSink) Write(p []byte) (int, error) { return s.diode.Write(p) }

// close writes out the queued lines, waiting at most logFlushTimeout for a
// writer that is stalled.
func (s *logSink) close() {
	done := make(chan struct{})
	go func() {
		_ = s.diode.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(logFlushTimeout):
	}
}
