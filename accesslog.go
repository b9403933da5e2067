package main

import (
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/spreadhttp/spread/handler"
)

var flagAccessLog = &cli.StringFlag{Name: "access-log", EnvVars: []string{"SPREAD_ACCESS_LOG"},
	Usage: "write one JSON line per request to this file (- for standard output; default: off); SIGUSR1 reopens it"}

// checkAccessLogFlag refuses, in the supervisor before any worker starts,
// an access log no worker could write, and one asked of a command after
// --, which logs its own requests.
func checkAccessLogFlag(c *cli.Context, command []string) error {
	path := c.String("access-log")
	switch {
	case path == "":
		return nil
	case len(command) > 0:
		return errors.New("--access-log applies to the built-in workers; a command after -- logs its own requests")
	}
	a, err := handler.OpenAccessLog(path)
	if err != nil {
		return err
	}
	return a.Close()
}

// workerAccessLog opens this worker's access log, nil when there is none,
// and reopens it on every SIGUSR1 for as long as the worker runs (the
// supervisor passes its SIGUSR1 on; logrotate sends it after renaming the
// file, as for nginx).
//
// The signal is caught before the file is opened: a rotation that races
// with the worker's start either comes before the open, which then finds
// the new path, or is caught and reopens. Until signal.Notify, Go ignores
// SIGUSR1, so an early one cannot kill the worker either.
func workerAccessLog(c *cli.Context, log zerolog.Logger) (*handler.AccessLog, error) {
	path := c.String("access-log")
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
