package main

import "github.com/urfave/cli/v2"

var flagAccessLog = &cli.StringFlag{Name: "access-log", EnvVars: []string{"SPREAD_ACCESS_LOG"},
	Usage: "write one JSON line per request to this file (- for standard output; default: off); SIGUSR1 reopens it"}
