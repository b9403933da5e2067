package handler

import (
	"bytes"
	"fmt"

	"github.com/rs/zerolog"
)

// engineLog turns the error lines an engine logs (net/http's ErrorLog,
// fasthttp's Logger) into zerolog events.
type engineLog struct {
	log    zerolog.Logger
	engine string
}

// Printf implements fasthttp.Logger.
func (l engineLog) Printf(format string, args ...any) {
	l.event(fmt.Sprintf(format, args...))
}

// Write takes one line from a log.Logger, as net/http's ErrorLog writes it.
func (l engineLog) Write(p []byte) (int, error) {
	l.event(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func (l engineLog) event(detail string) {
	l.log.Error().Str("engine", l.engine).Str("detail", detail).Msg("http server error")
}
