package main

import (
	"crypto/tls"
	"errors"

	"github.com/urfave/cli/v2"

	"github.com/spreadhttp/spread/handler"
)

var (
	flagTLSCert = &cli.StringFlag{Name: "tls-cert", EnvVars: []string{"SPREAD_TLS_CERT"},
		Usage: "serve HTTPS with this PEM certificate (chain); needs --tls-key; read by each worker at start, so a reload rotates it"}
	flagTLSKey = &cli.StringFlag{Name: "tls-key", EnvVars: []string{"SPREAD_TLS_KEY"},
		Usage: "PEM private key of --tls-cert"}
)

// tlsFlags are the flags that turn a built-in worker into an HTTPS server.
func tlsFlags() []cli.Flag {
	return []cli.Flag{flagTLSCert, flagTLSKey}
}

// checkTLSFlags refuses, in the supervisor before any worker starts, a TLS
// setting that no worker could serve with: half a pair, a pair that does
// not load, or TLS asked of a command after --, which does its own.
func checkTLSFlags(c *cli.Context, command []string) error {
	cert, key := c.String("tls-cert"), c.String("tls-key")
	switch {
	case cert == "" && key == "":
		return nil
	case cert == "" || key == "":
		return errors.New("--tls-cert and --tls-key go together: give both, or neither")
	case len(command) > 0:
		return errors.New("--tls-cert and --tls-key apply to the built-in workers; a command after -- terminates TLS itself")
	}
	_, err := handler.LoadTLS(cert, key)
	return err
}

// workerTLS reads the worker's certificate and key, now: nil when the
// worker serves plain HTTP.
func workerTLS(c *cli.Context) (*tls.Config, error) {
	cert, key := c.String("tls-cert"), c.String("tls-key")
	if cert == "" && key == "" {
		return nil, nil
	}
	return handler.LoadTLS(cert, key)
}
