package main

import (
	"fmt"
	"reflect"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"

	"github.com/spreadhttp/spread/handler"
	"github.com/spreadhttp/spread/prefork"
	"github.com/spreadhttp/spread/supervisor"
)

// command is the CLI's command name, with its flags wrapped as newApp
// wraps them.
func command(t *testing.T, name string) *cli.Command {
	t.Helper()
	for _, cmd := range newApp().Commands {
		if cmd.Name == name {
			return cmd
		}
	}
	t.Fatalf("no %s command", name)
	return nil
}

// settingsOfFlags runs `spread CMD ARGS...` as far as the mapping of its
// flags, and returns what prefork makes of the options.
func settingsOfFlags(t *testing.T, cmd string, args ...string) (supervisor.Config, handler.Options) {
	t.Helper()
	app := newApp()
	var cfg supervisor.Config
	var opts handler.Options
	for _, c := range app.Commands {
		if c.Name != cmd {
			continue
		}
		c.Action = func(c *cli.Context) error {
			flagOpts, err := optionsOfFlags(c)
			if err != nil {
				return err
			}
			cfg, opts, err = prefork.Settings(c.String("addr"), flagOpts...)
			return err
		}
	}
	if err := app.Run(append([]string{"spread", cmd}, args...)); err != nil {
		t.Fatalf("spread %s %v: %v", cmd, args, err)
	}
	return cfg, opts
}

func TestEveryServeFlagMapsToALibraryOption(t *testing.T) {
	for _, name := range []string{"serve", "standalone"} {
		flags := map[string]bool{}
		for _, f := range command(t, name).Flags {
			flag := f.Names()[0]
			flags[flag] = true
			_, option := flagOptions[flag]
			_, own := cliFlags[flag]
			switch {
			case option && own:
				t.Errorf("spread %s --%s both maps to an option and is the CLI's own", name, flag)
			case !option && !own:
				t.Errorf("spread %s --%s maps to no prefork option: add one, and its entry in flagOptions", name, flag)
			}
		}
		if name == "serve" {
			if len(flags) < 30 {
				t.Fatalf("only %d serve flags: the command was not found whole", len(flags))
			}
			for flag := range flagOptions {
				if !flags[flag] {
					t.Errorf("flagOptions maps --%s, which spread serve does not have", flag)
				}
			}
		}
	}
}

// withoutLoggers drops what the comparison cannot see into: the loggers,
// set apart from the flags.
func withoutLoggers(cfg supervisor.Config, opts handler.Options) (supervisor.Config, handler.Options) {
	cfg.Log, opts.Log = zerolog.Logger{}, zerolog.Logger{}
	return cfg, opts
}

// Every flag is passed, at its default value: what comes out must be what
// the library does with no option at all.
func TestFlagDefaultsAreTheLibraryDefaults(t *testing.T) {
	const addr = "127.0.0.1:8000"
	libCfg, libHTTP, err := prefork.Settings(addr)
	if err != nil {
		t.Fatal(err)
	}
	libCfg, libHTTP = withoutLoggers(libCfg, libHTTP)
	for _, cmd := range []string{"serve", "standalone"} {
		cfg, http := withoutLoggers(settingsOfFlags(t, cmd, "--addr", addr))
		if cmd == "serve" {
			for _, d := range fieldDiffs(cfg, libCfg) {
				t.Errorf("spread serve's flag defaults disagree with supervisor.Config's: %s", d)
			}
		}
		for _, d := range fieldDiffs(http, libHTTP) {
			t.Errorf("spread %s's flag defaults disagree with handler.Options': %s", cmd, d)
		}
	}
}

// fieldDiffs names each field of two structs of one type that differs,
// with both values.
func fieldDiffs(flags, lib any) []string {
	a, b := reflect.ValueOf(flags), reflect.ValueOf(lib)
	var diffs []string
	for i := range a.NumField() {
		if !reflect.DeepEqual(a.Field(i).Interface(), b.Field(i).Interface()) {
			diffs = append(diffs, fmt.Sprintf("%s is %v from the flags, %v in the library", a.Type().Field(i).Name, a.Field(i), b.Field(i)))
		}
	}
	return diffs
}

// A flag's value reaches its setting with the flag's meaning, 0 for off
// included.
func TestFlagValuesReachTheirSettings(t *testing.T) {
	cfg, http := settingsOfFlags(t, "serve", "--addr", "127.0.0.1:8000",
		"--worker-timeout", "0", "--min-uptime", "0", "--tcp-defer-accept=false", "--backlog", "64",
		"--stop-signal", "int", "--hang-signal", "SIGUSR2", "--max-memory", "1G", "--workers", "3",
		"--max-workers", "5", "--engine", "fasthttp", "--idle-timeout", "5s", "--control-socket", "/tmp/x.sock")
	checks := []struct {
		name      string
		got, want any
	}{
		{"--worker-timeout 0", cfg.WorkerTimeout, supervisor.Off},
		{"--min-uptime 0", cfg.MinUptime, supervisor.Off},
		{"--tcp-defer-accept=false", cfg.Socket.DeferAccept, time.Duration(0)},
		{"--backlog 64", cfg.Socket.Backlog, 64},
		{"--stop-signal int", cfg.StopSignal, syscall.SIGINT},
		{"--hang-signal SIGUSR2", cfg.HangSignal, syscall.SIGUSR2},
		{"--max-memory 1G", cfg.MaxMemory, uint64(1 << 30)},
		{"--workers 3", cfg.Workers, 3},
		{"--max-workers 5", cfg.MaxWorkers, 5},
		{"--engine fasthttp", http.Engine, "fasthttp"},
		{"--idle-timeout 5s", http.IdleTimeout, 5 * time.Second},
		{"--control-socket", cfg.ControlSocket, "/tmp/x.sock"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: setting is %v, want %v", c.name, c.got, c.want)
		}
	}
}
