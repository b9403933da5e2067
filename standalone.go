package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/spreadhttp/spread/handler"
	"github.com/spreadhttp/spread/prefork"
)

// standaloneCommand serves the same handler from this one process, with no
// supervisor and no SO_REUSEPORT: the baseline that `make bench` measures
// spread against.
func standaloneCommand() *cli.Command {
	return &cli.Command{
		Name:         "standalone",
		Usage:        "serve the same handler from a single process, without a supervisor (benchmark baseline)",
		OnUsageError: usageError,
		Flags:        httpFlags(),
		Action: func(c *cli.Context) error {
			log, closeLog, err := newLogger(c)
			if err != nil {
				return err
			}
			defer closeLog()
			// The same flags, options and rules as spread serve's.
			opts, err := optionsOfFlags(c)
			if err != nil {
				return err
			}
			_, httpOpts, err := prefork.Settings(c.String("addr"), append(opts, prefork.Logger(log), prefork.NoControlSocket())...)
			if err != nil {
				return err
			}
			srv, err := handler.New(httpOpts)
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", c.String("addr"))
			if err != nil {
				return fmt.Errorf("listen %s: %w", c.String("addr"), err)
			}
			log.Info().Int("pid", os.Getpid()).Str("addr", ln.Addr().String()).Msg("standalone server online")
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			served := make(chan error, 1)
			go func() { served <- srv.Serve(ln) }()
			select {
			case err := <-served:
				return err
			case <-ctx.Done():
			}
			sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		},
	}
}
