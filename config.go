package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/urfave/cli/v2"
	"github.com/urfave/cli/v2/altsrc"

	"github.com/spreadhttp/spread/supervisor"
)

var flagConfig = &cli.StringFlag{Name: "config", EnvVars: []string{"SPREAD_CONFIG"},
	Usage: "read flag values from this TOML file, keys named as the flags (workers = 4); a flag or SPREAD_* variable overrides the file"}

// withConfigFile lets every flag of serve also be set from the TOML file
// named by --config, through urfave/cli's altsrc: each flag is wrapped in
// its altsrc counterpart, and the command's Before applies the file.
// Precedence is flag, then environment, then file, then default: altsrc
// sets a value from the file only when neither the command line nor the
// flag's environment variable did.
//
// The control commands get --config too, and take from the same file what
// finds the server (addr, control-socket); its other keys are for serve.
// It returns serve, then the control commands.
//
// A flag of a type altsrc cannot wrap stays as it is; the file cannot set
// it, and naming it there is an unknown key (config_test checks that every
// serve flag is wrapped).
func withConfigFile(serve *cli.Command, control []*cli.Command) []*cli.Command {
	configurable(serve, nil)
	keys := fileKeys(serve.Flags)
	for _, cmd := range control {
		configurable(cmd, keys)
	}
	return append([]*cli.Command{serve}, control...)
}

// configurable wraps cmd's flags and adds --config. A file may name keys
// (the default: cmd's own flags), of which cmd applies those it has.
func configurable(cmd *cli.Command, keys []string) {
	flags := make([]cli.Flag, 0, len(cmd.Flags)+1)
	for _, f := range cmd.Flags {
		flags = append(flags, fromFile(f))
	}
	cmd.Flags = append(flags, flagConfig)
	if keys == nil {
		keys = fileKeys(cmd.Flags)
	}
	before := cmd.Before
	cmd.Before = func(c *cli.Context) error {
		if err := applyConfigFile(c, cmd.Flags, keys); err != nil {
			// A worker re-reads the file (it gets the same arguments);
			// if it changed for the worse since the supervisor read it,
			// the supervisor hears why.
			if supervisor.IsWorker() {
				return supervisor.FailWorker(err)
			}
			return err
		}
		if before != nil {
			return before(c)
		}
		return nil
	}
}

// fromFile wraps f so that a config file can set it.
func fromFile(f cli.Flag) cli.Flag {
	switch f := f.(type) {
	case *cli.StringFlag:
		return altsrc.NewStringFlag(f)
	case *cli.IntFlag:
		return altsrc.NewIntFlag(f)
	case *cli.Int64Flag:
		return altsrc.NewInt64Flag(f)
	case *cli.UintFlag:
		return altsrc.NewUintFlag(f)
	case *cli.Uint64Flag:
		return altsrc.NewUint64Flag(f)
	case *cli.BoolFlag:
		return altsrc.NewBoolFlag(f)
	case *cli.DurationFlag:
		return altsrc.NewDurationFlag(f)
	case *cli.Float64Flag:
		return altsrc.NewFloat64Flag(f)
	case *cli.PathFlag:
		return altsrc.NewPathFlag(f)
	case *cli.StringSliceFlag:
		return altsrc.NewStringSliceFlag(f)
	}
	return f
}

// fileKeys are the names a config file may use: those of the flags it can
// set.
func fileKeys(flags []cli.Flag) []string {
	var keys []string
	for _, f := range flags {
		if _, ok := f.(altsrc.FlagInputSourceExtension); ok {
			keys = append(keys, f.Names()[0])
		}
	}
	return keys
}

// applyConfigFile sets, from the file --config names, the flags that the
// command line and the environment left unset; the file may only name
// keys. No --config: nothing.
func applyConfigFile(c *cli.Context, flags []cli.Flag, keys []string) error {
	path := c.String("config")
	if path == "" {
		return nil
	}
	values, err := readConfigFile(path, keys)
	if err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	if err := altsrc.ApplyInputSourceValues(c, altsrc.NewMapInputSource(path, values), flags); err != nil {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	return nil
}

// readConfigFile decodes a TOML file of top-level keys, each one of keys,
// into the value map altsrc reads (TOML integers as int).
func readConfigFile(path string, keys []string) (map[any]any, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc map[string]any
	if err := toml.Unmarshal(raw, &doc); err != nil {
		return nil, errors.New(strings.Join(strings.Fields(err.Error()), " "))
	}
	values := make(map[any]any, len(doc))
	for k, v := range doc {
		if !slices.Contains(keys, k) {
			return nil, fmt.Errorf("unknown key %q: keys are the names of spread serve's flags, without --", k)
		}
		if n, ok := v.(int64); ok {
			v = int(n)
		}
		values[k] = v
	}
	return values, nil
}
