package main

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/spreadhttp/spread/prefork"
	"github.com/spreadhttp/spread/supervisor"
)

// flagOption makes, from the value of the flag name, the prefork option
// that sets it. Reading the value (a size, a signal name) is all it does:
// defaults and rules are the library's.
type flagOption func(c *cli.Context, name string) (prefork.Option, error)

// optionOf is the flagOption that passes the flag's value, as get reads
// it, to the option set.
func optionOf[T any](get func(*cli.Context, string) T, set func(T) prefork.Option) flagOption {
	return func(c *cli.Context, name string) (prefork.Option, error) { return set(get(c, name)), nil }
}

var (
	str      = (*cli.Context).String
	integer  = (*cli.Context).Int
	uint64s  = (*cli.Context).Uint64
	duration = (*cli.Context).Duration
	boolean  = (*cli.Context).Bool
)

// flagOptions maps every flag of spread serve and spread standalone, but
// the CLI's own (cliFlags), to the prefork option of the same name. A flag
// missing from both fails TestEveryServeFlagMapsToALibraryOption.
var flagOptions = map[string]flagOption{
	"engine":              optionOf(str, prefork.Engine),
	"read-header-timeout": optionOf(duration, prefork.ReadHeaderTimeout),
	"idle-timeout":        optionOf(duration, prefork.IdleTimeout),
	"max-header-bytes":    optionOf(integer, prefork.MaxHeaderBytes),
	"tls-cert":            optionOf(str, prefork.TLSCert),
	"tls-key":             optionOf(str, prefork.TLSKey),
	"access-log":          optionOf(str, prefork.AccessLog),
	"workers":             optionOf(integer, prefork.Workers),
	"max-workers":         optionOf(integer, prefork.MaxWorkers),
	"graceful-timeout":    optionOf(duration, prefork.GracefulTimeout),
	"min-uptime":          optionOf(duration, prefork.MinUptime),
	"max-backoff":         optionOf(duration, prefork.MaxBackoff),
	"max-restarts":        optionOf(integer, prefork.MaxRestarts),
	"worker-timeout":      optionOf(duration, prefork.WorkerTimeout),
	"start-timeout":       optionOf(duration, prefork.StartTimeout),
	"allow-shared-port":   optionOf(boolean, prefork.AllowSharedPort),
	"tcp-defer-accept":    optionOf(boolean, prefork.TCPDeferAccept),
	"spare":               optionOf(boolean, prefork.Spare),
	"quiet-sysmon":        optionOf(boolean, prefork.QuietSysmon),
	"backlog":             optionOf(integer, prefork.Backlog),
	"ready": optionOf(str, func(mode string) prefork.Option {
		return prefork.Ready(supervisor.ReadyMode(mode))
	}),
	"ready-delay":         optionOf(duration, prefork.ReadyDelay),
	"stop-signal":         signalOption(prefork.StopSignal),
	"hang-signal":         signalOption(prefork.HangSignal),
	"max-requests":        optionOf(uint64s, prefork.MaxRequests),
	"max-requests-jitter": optionOf(uint64s, prefork.MaxRequestsJitter),
	"max-memory":          sizeOption(prefork.MaxMemory),
	"max-age":             optionOf(duration, prefork.MaxAge),
	"max-age-jitter":      optionOf(duration, prefork.MaxAgeJitter),
	"steer":               optionOf(str, prefork.Steer),
	"steer-quarantine":    optionOf(duration, prefork.SteerQuarantine),
	"drain-delay":         optionOf(duration, prefork.DrainDelay),
	"control-socket":      optionOf(str, prefork.ControlSocket),
	"metrics-addr":        optionOf(str, prefork.MetricsAddr),
	"pidfile":             optionOf(str, prefork.PIDFile),
	"user":                optionOf(str, prefork.User),
	"group":               optionOf(str, prefork.Group),
}

// cliFlags are the flags that belong to the CLI and map to no option, each
// with what stands for it in the library.
var cliFlags = map[string]string{
	"addr":       "the addr argument of prefork.Run",
	"log-format": "prefork.Logger, which the CLI builds",
	"log-level":  "prefork.Logger, which the CLI builds",
	"config":     "nothing: a file of flag values, read before the flags are mapped",
}

// optionsOfFlags are the prefork options of c's command's flags, in the
// order of the flags.
func optionsOfFlags(c *cli.Context) ([]prefork.Option, error) {
	var opts []prefork.Option
	for _, f := range c.Command.Flags {
		name := f.Names()[0]
		toOption, ok := flagOptions[name]
		if !ok {
			continue // one of cliFlags
		}
		opt, err := toOption(c, name)
		if err != nil {
			return nil, err
		}
		opts = append(opts, opt)
	}
	return opts, nil
}

// signalOption reads a signal flag: a name with or without SIG (TERM,
// SIGTERM) or a number. Whether the signal will do is the library's rule.
func signalOption(set func(syscall.Signal) prefork.Option) flagOption {
	return func(c *cli.Context, name string) (prefork.Option, error) {
		v := strings.ToUpper(strings.TrimSpace(c.String(name)))
		if n, err := strconv.Atoi(v); err == nil {
			return set(syscall.Signal(n)), nil
		}
		if !strings.HasPrefix(v, "SIG") {
			v = "SIG" + v
		}
		if sig := unix.SignalNum(v); sig != 0 {
			return set(sig), nil
		}
		return nil, fmt.Errorf("--%s must name a signal that can be caught (e.g. TERM, INT, QUIT), got %q", name, c.String(name))
	}
}

// sizeOption reads a byte-size flag (see parseSize).
func sizeOption(set func(uint64) prefork.Option) flagOption {
	return func(c *cli.Context, name string) (prefork.Option, error) {
		n, err := parseSize(c.String(name))
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", name, err)
		}
		return set(n), nil
	}
}

// parseSize reads a byte size: a number with an optional binary unit, K,
// M, G or T (KiB, MiB, … and KB, MB, … mean the same, as in nginx).
func parseSize(v string) (uint64, error) {
	s := strings.ToUpper(strings.TrimSpace(v))
	if s == "" {
		return 0, nil
	}
	s = strings.TrimSuffix(strings.TrimSuffix(s, "B"), "I")
	shift := 0
	if n := len(s); n > 0 {
		if i := strings.IndexByte("KMGT", s[n-1]); i >= 0 {
			shift, s = 10*(i+1), s[:n-1]
		}
	}
	n, err := strconv.ParseUint(strings.TrimSpace(s), 10, 64)
	if err != nil || (shift > 0 && n > (1<<(64-shift))-1) {
		return 0, fmt.Errorf("%q is not a size such as 512M or 2G", v)
	}
	return n << shift, nil
}
