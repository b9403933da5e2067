package main

import (
	"github.com/urfave/cli/v2"
)

var (
	flagUser = &cli.StringFlag{Name: "user", EnvVars: []string{"SPREAD_USER"},
		Usage: "run every worker as this user (name or uid); the supervisor keeps its privileges and binds the sockets, as nginx's master does"}
	flagGroup = &cli.StringFlag{Name: "group", EnvVars: []string{"SPREAD_GROUP"},
		Usage: "with --user, the workers' group (name or gid); default: the user's primary group"}
)

// userFlags are the flags of the privilege drop.
func userFlags() []cli.Flag {
	return []cli.Flag{flagUser, flagGroup}
}
