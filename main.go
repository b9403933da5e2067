// Command spread serves HTTP from N worker processes that share one port
// through SO_REUSEPORT, under a supervisor that replaces any worker that
// exits, hangs or crashes. See README.md.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/spreadhttp/spread/handler"
	"github.com/spreadhttp/spread/prefork"
	"github.com/spreadhttp/spread/supervisor"
)

// init keeps main's goroutine on the process's main thread, as the
// runtime does during init, until serve lets it go: the execve that
// names the supervisor, and the one that turns an exec-mode worker into
// the user's command, must come from the main thread. From any other, the
// kernel shows the main thread, and so the pid, as a zombie until the
// exec is done, and whoever polls /proc/PID/stat then (ps, a drill, a
// monitor) takes the process for dead.
func init() { runtime.LockOSThread() }

func main() {
	if err := newApp().Run(os.Args); err != nil {
		// A worker has told its supervisor why it failed, and the
		// supervisor logs it: one line for the user, not one per worker.
		// A process that only has the worker's environment is no worker.
		if !supervisor.IsWorker() || supervisor.CheckWorker() != nil {
			fmt.Fprintf(os.Stderr, "spread: %s\n", oneLine(err))
		}
		os.Exit(1)
	}
}

// oneLine keeps an error to one line, so a user never sees a dump.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// usageError turns cli's usage errors into plain errors: one line, no help
// text dumped after it.
func usageError(_ *cli.Context, err error, _ bool) error {
	return fmt.Errorf("%w (see spread --help)", err)
}

func newApp() *cli.App {
	return &cli.App{
		Name:                 "spread",
		Usage:                "serve HTTP from one worker process per core, sharing a port with SO_REUSEPORT",
		HideHelpCommand:      true,
		EnableBashCompletion: false,
		OnUsageError:         usageError,
		Version:              supervisor.Version(),
		ExitErrHandler:       func(*cli.Context, error) {},
		Commands:             append(withConfigFile(serveCommand(), controlCommands()), standaloneCommand()),
	}
}

var (
	flagAddr = &cli.StringFlag{Name: "addr", Value: ":8000", EnvVars: []string{"SPREAD_ADDR"},
		Usage: "TCP address every worker serves (host:port)"}
	flagEngine = &cli.StringFlag{Name: "engine", Value: handler.DefaultOptions().Engine, EnvVars: []string{"SPREAD_ENGINE"},
		Usage: "HTTP engine of the workers: " + strings.Join(handler.Engines, " or ")}
	flagLogFormat = &cli.StringFlag{Name: "log-format", Value: "auto", EnvVars: []string{"SPREAD_LOG_FORMAT"},
		Usage: "log format: console, json, or auto (console on a terminal, else json)"}
	flagLogLevel = &cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"SPREAD_LOG_LEVEL"},
		Usage: "least severe log level written: debug, info, warn or error"}
	flagReadHeaderTimeout = &cli.DurationFlag{Name: "read-header-timeout", Value: handler.DefaultOptions().ReadHeaderTimeout, EnvVars: []string{"SPREAD_READ_HEADER_TIMEOUT"},
		Usage: "time a client has to send a request's headers"}
	flagIdleTimeout = &cli.DurationFlag{Name: "idle-timeout", Value: handler.DefaultOptions().IdleTimeout, EnvVars: []string{"SPREAD_IDLE_TIMEOUT"},
		Usage: "time an idle keep-alive connection is kept open"}
	flagMaxHeaderBytes = &cli.IntFlag{Name: "max-header-bytes", Value: handler.DefaultOptions().MaxHeaderBytes, EnvVars: []string{"SPREAD_MAX_HEADER_BYTES"},
		Usage: "largest request header accepted, in bytes"}
)

// httpFlags are the flags that shape what a worker serves.
func httpFlags() []cli.Flag {
	return []cli.Flag{flagAddr, flagEngine, flagReadHeaderTimeout, flagIdleTimeout, flagMaxHeaderBytes, flagLogFormat, flagLogLevel}
}

func serveCommand() *cli.Command {
	d := supervisor.DefaultConfig()
	return &cli.Command{
		Name:      "serve",
		Usage:     "run the supervisor and its workers in the foreground",
		ArgsUsage: "[-- CMD [ARGS...]]",
		Description: "Without CMD, every worker serves spread's built-in HTTP server. With -- CMD, every\n" +
			"worker runs CMD with its slot's listening socket as fd 3 (systemd socket activation:\n" +
			"LISTEN_FDS=1, LISTEN_PID, LISTEN_FDNAMES=http) and NOTIFY_SOCKET for READY=1.",
		OnUsageError: usageError,
		Flags: append(append(append(httpFlags(), tlsFlags()...), userFlags()...), flagAccessLog,
			&cli.IntFlag{Name: "workers", Value: d.Workers, EnvVars: []string{"SPREAD_WORKERS"},
				Usage: "number of worker processes at start"},
			&cli.IntFlag{Name: "max-workers", Value: d.MaxWorkers, EnvVars: []string{"SPREAD_MAX_WORKERS"},
				Usage: "most workers that scaling up (TTIN, spread scale) may reach (0: 4 × CPUs, and at least --workers)"},
			&cli.DurationFlag{Name: "graceful-timeout", Value: d.GracefulTimeout, EnvVars: []string{"SPREAD_GRACEFUL_TIMEOUT"},
				Usage: "time a stopping worker has to finish its requests before SIGKILL"},
			&cli.DurationFlag{Name: "min-uptime", Value: d.MinUptime, EnvVars: []string{"SPREAD_MIN_UPTIME"},
				Usage: "a worker that dies younger than this restarts with backoff (0: every exit is a stable run)"},
			&cli.DurationFlag{Name: "max-backoff", Value: d.MaxBackoff, EnvVars: []string{"SPREAD_MAX_BACKOFF"},
				Usage: "longest restart delay of a worker that keeps dying young"},
			&cli.IntFlag{Name: "max-restarts", Value: d.MaxRestarts, EnvVars: []string{"SPREAD_MAX_RESTARTS"},
				Usage: "young deaths in a row after which a slot counts as failing"},
			&cli.DurationFlag{Name: "worker-timeout", Value: d.WorkerTimeout, EnvVars: []string{"SPREAD_WORKER_TIMEOUT"},
				Usage: "heartbeat silence after which a worker is killed as hung (0 disables)"},
			&cli.DurationFlag{Name: "start-timeout", Value: d.StartTimeout, EnvVars: []string{"SPREAD_START_TIMEOUT"},
				Usage: "time a new worker has to come online before it is killed as failed"},
			&cli.BoolFlag{Name: "allow-shared-port", EnvVars: []string{"SPREAD_ALLOW_SHARED_PORT"},
				Usage: "start even if another process already listens on the address"},
			// On by default: bench/README.md (TCP_DEFER_ACCEPT) has the
			// measurements behind that choice.
			&cli.BoolFlag{Name: "spare", Value: true, EnvVars: []string{"SPREAD_SPARE"},
				Usage: "keep one worker started in advance to replace a worker that dies or hangs at once (built-in workers only); --spare=false turns it off"},
			// On by default: bench/study-sysmon.md has the measurements.
			&cli.BoolFlag{Name: "quiet-sysmon", Value: true, EnvVars: []string{"SPREAD_QUIET_SYSMON"},
				Usage: "keep each built-in worker's Go scheduler monitor (sysmon) out of its deep sleep, from which every wake-up polls every 20µs (GODEBUG=schedtrace=2147483647; a worker prints one SCHED line per 24.8 days of host uptime); --quiet-sysmon=false turns it off"},
			&cli.BoolFlag{Name: "tcp-defer-accept", Value: true, EnvVars: []string{"SPREAD_TCP_DEFER_ACCEPT"},
				Usage: "queue a connection for accept only once its request has arrived (TCP_DEFER_ACCEPT); --tcp-defer-accept=false turns it off"},
			&cli.IntFlag{Name: "backlog", EnvVars: []string{"SPREAD_BACKLOG"},
				Usage: "accept-queue length of each slot's socket; 0 means net.core.somaxconn"},
			&cli.StringFlag{Name: "ready", Value: string(d.Ready), EnvVars: []string{"SPREAD_READY"},
				Usage: "with -- CMD, when a worker counts as online: start (after --ready-delay) or notify (when CMD sends READY=1 to $NOTIFY_SOCKET)"},
			&cli.DurationFlag{Name: "ready-delay", Value: d.ReadyDelay, EnvVars: []string{"SPREAD_READY_DELAY"},
				Usage: "with -- CMD and --ready=start, how long a worker runs before it counts as online"},
			&cli.StringFlag{Name: "stop-signal", Value: "TERM", EnvVars: []string{"SPREAD_STOP_SIGNAL"},
				Usage: "with -- CMD, the signal that tells a worker to drain and exit (SIGKILL follows after --graceful-timeout)"},
			&cli.StringFlag{Name: "hang-signal", Value: "QUIT", EnvVars: []string{"SPREAD_HANG_SIGNAL"},
				Usage: "signal sent to a worker judged hung, 2s before SIGKILL (QUIT makes Go programs dump their goroutines)"},
			&cli.Uint64Flag{Name: "max-requests", EnvVars: []string{"SPREAD_MAX_REQUESTS"},
				Usage: "recycle a built-in worker after this many requests (0: never)"},
			&cli.Uint64Flag{Name: "max-requests-jitter", EnvVars: []string{"SPREAD_MAX_REQUESTS_JITTER"},
				Usage: "add 0..N to each worker's --max-requests, so workers do not recycle together"},
			&cli.StringFlag{Name: "max-memory", EnvVars: []string{"SPREAD_MAX_MEMORY"},
				Usage: "recycle a worker whose resident memory exceeds this size, e.g. 512M or 2G (binary units; 0: never)"},
			&cli.DurationFlag{Name: "max-age", EnvVars: []string{"SPREAD_MAX_AGE"},
				Usage: "recycle a worker older than this (0: never)"},
			&cli.DurationFlag{Name: "max-age-jitter", EnvVars: []string{"SPREAD_MAX_AGE_JITTER"},
				Usage: "add a random 0..D to each worker's --max-age"},
			&cli.StringFlag{Name: "steer", Value: d.Steer, EnvVars: []string{"SPREAD_STEER"},
				Usage: "steer new connections away from starting, draining, hung or stuck workers with an eBPF SK_REUSEPORT program: auto (on when root/CAP_BPF allows), on, or off"},
			&cli.DurationFlag{Name: "steer-quarantine", Value: d.SteerQuarantine, EnvVars: []string{"SPREAD_STEER_QUARANTINE"},
				Usage: "with steering, how long a non-empty accept queue may stand still before its worker gets no new connections"},
			flagDrainDelay,
			flagControlSocket,
			&cli.StringFlag{Name: "metrics-addr", EnvVars: []string{"SPREAD_METRICS_ADDR"},
				Usage: "also serve /metrics on this TCP address; a bare port means loopback (default: off)"},
			&cli.StringFlag{Name: "pidfile", EnvVars: []string{"SPREAD_PIDFILE"},
				Usage: "write the supervisor's pid here once ready; removed on exit; the path must be free or hold a stale spread pidfile"},
		),
		Action: serve,
	}
}

// serve runs the supervisor, or, in a process the supervisor started, the
// worker: prefork.Run with the option of each flag.
func serve(c *cli.Context) error {
	log, closeLog, err := newLogger(c)
	if err != nil {
		return err
	}
	defer closeLog()
	opts, err := optionsOfFlags(c)
	if err != nil {
		return supervisor.FailWorker(err)
	}
	opts = append(opts, prefork.Logger(log))
	command := c.Args().Slice()
	if len(command) > 0 {
		opts = append(opts, prefork.Exec(command...))
	}
	if !supervisor.IsWorker() {
		// Settings that will not run fail here, before the re-exec that
		// names the supervisor "spread: supervisor :8000" in ps (a failed
		// re-exec only costs the name).
		if _, _, err := prefork.Settings(c.String("addr"), opts...); err != nil {
			return err
		}
		_ = supervisor.NameSupervisor(c.String("addr"))
	}
	if !supervisor.IsWorker() || len(command) == 0 {
		// Only an exec-mode worker has an execve left to make.
		runtime.UnlockOSThread()
	}
	return prefork.Run(context.Background(), c.String("addr"), opts...)
}

// newLogger builds the zerolog logger the flags ask for. Its lines go
// through a logSink, so logging never blocks or kills the process; close
// flushes what is queued and must run before the process exits.
func newLogger(c *cli.Context) (log zerolog.Logger, flush func(), err error) {
	level, err := zerolog.ParseLevel(c.String("log-level"))
	if err != nil || c.String("log-level") == "" {
		return zerolog.Logger{}, nil, fmt.Errorf("--log-level must be debug, info, warn or error, got %q", c.String("log-level"))
	}
	// Duration fields are named with their unit (uptime_ms), and lines
	// carry milliseconds: events of one second are told apart and ordered.
	zerolog.DurationFieldUnit = time.Millisecond
	zerolog.DurationFieldInteger = false
	zerolog.TimeFieldFormat = logTimeFormat
	var format func(io.Writer) io.Writer
	switch c.String("log-format") {
	case "json":
		format = plainLog
	case "console":
		format = consoleLog
	case "auto":
		format = plainLog
		if isTerminal(os.Stderr) {
			format = consoleLog
		}
	default:
		return zerolog.Logger{}, nil, fmt.Errorf("--log-format must be console, json or auto, got %q", c.String("log-format"))
	}
	build := func(w io.Writer) zerolog.Logger {
		return zerolog.New(w).Level(level).With().Timestamp().Logger()
	}
	sink := newLogSink(format(os.Stderr), logBuffer, build)
	return build(sink), sink.close, nil
}

// logTimeFormat is RFC 3339 with milliseconds, as in the access log.
const logTimeFormat = "2006-01-02T15:04:05.000Z07:00"

func plainLog(w io.Writer) io.Writer { return w }

func consoleLog(w io.Writer) io.Writer {
	return zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000"}
}

func isTerminal(f *os.File) bool {
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
