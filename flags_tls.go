package main

import (
	"github.com/urfave/cli/v2"
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
