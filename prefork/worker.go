package prefork

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/spreadhttp/spread/handler"
	"github.com/spreadhttp/spread/supervisor"
)

// serveWorker is the worker's side: the handler, or the built-in pages, on
// the slot's socket, counted into the supervisor's scoreboard, with this
// worker's certificate and access log opened now. A failure before serving
// is told to the supervisor, which logs it once.
func serveWorker(s *settings) error {
	info, _ := supervisor.CurrentWorker()
	log := s.log.With().Int("slot", info.Slot).Int("pid", os.Getpid()).Logger()
	opts := s.http
	opts.Slot, opts.Recorder, opts.Leaving, opts.Log = info.Slot, info.Recorder, supervisor.Leaving, log
	var err error
	if s.tlsCert != "" {
		if opts.TLS, err = handler.LoadTLS(s.tlsCert, s.tlsKey); err != nil {
			return supervisor.FailWorker(err)
		}
	}
	if opts.AccessLog, err = openAccessLog(s.accessLog, log); err != nil {
		return supervisor.FailWorker(err)
	}
	srv, err := handler.New(opts)
	if err != nil {
		return supervisor.FailWorker(err)
	}
	return supervisor.ServeWorker(srv)
}

// openAccessLog opens this worker's access log, nil when path is "", and
// reopens it on every SIGUSR1 for as long as the worker runs (the
// supervisor passes its SIGUSR1 on; logrotate sends it after renaming the
// file, as for nginx).
//
// The signal is caught before the file is opened: a rotation that races
// with the worker's start either comes before the open, which then finds
// the new path, or is caught and reopens. Until signal.Notify, Go ignores
// SIGUSR1, so an early one cannot kill the worker either.
func openAccessLog(path string, log zerolog.Logger) (*handler.AccessLog, error) {
	if path == "" {
		return nil, nil
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	a, err := handler.OpenAccessLog(path)
	if err != nil {
		signal.Stop(usr1)
		return nil, err
	}
	go func() {
		for range usr1 {
			if err := a.Reopen(); err != nil {
				log.Error().Err(err).Msg("access log not reopened: still writing the old file")
				continue
			}
			log.Info().Str("path", path).Msg("access log reopened")
		}
	}()
	return a, nil
}
