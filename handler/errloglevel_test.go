package handler

import (
	"strings"
	"testing"

	"github.com/rs/zerolog"
)

// Client errors are debug events: they are written when both the logger
// and zerolog's global level let debug through, at debug exactly too, and
// dropped otherwise, by both the fasthttp (Printf) and net/http (Write)
// entry points.
func TestClientErrorsAreWrittenExactlyAtDebugLevel(t *testing.T) {
	saved := zerolog.GlobalLevel()
	defer zerolog.SetGlobalLevel(saved)
	for _, c := range []struct {
		logger, global zerolog.Level
		want           bool
	}{
		{zerolog.DebugLevel, zerolog.DebugLevel, true},
		{zerolog.TraceLevel, zerolog.TraceLevel, true},
		{zerolog.InfoLevel, zerolog.DebugLevel, false},
		{zerolog.DebugLevel, zerolog.InfoLevel, false},
	} {
		zerolog.SetGlobalLevel(c.global)
		out := &syncBuffer{}
		l := newEngineLog(zerolog.New(out).Level(c.logger), engineFastHTTP)
		l.Printf(clientErrorPrefix+" %s", "x")
		_, _ = l.Write([]byte(netHTTPClientErrorPrefix + "1.2.3.4: EOF\n"))
		if got := strings.Count(out.String(), `"client error"`); got != map[bool]int{true: 2, false: 0}[c.want] {
			t.Errorf("logger %v, global %v: %d client errors written, want both: %v", c.logger, c.global, got, c.want)
		}
		if strings.Contains(out.String(), "suppressed") {
			t.Errorf("logger %v, global %v: an event says events were suppressed when none were: %s", c.logger, c.global, out)
		}
		// A server error is written at any of these levels.
		_, _ = l.Write([]byte("http: panic serving\n"))
		if !strings.Contains(out.String(), `"http server error"`) {
			t.Errorf("logger %v, global %v: a server error was dropped", c.logger, c.global)
		}
	}
}
