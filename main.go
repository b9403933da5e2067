// Command spread serves HTTP from N worker processes that share one port
// through SO_REUSEPORT, under a supervisor that replaces any worker that
// exits, hangs or crashes. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/urfave/cli/v2"
	"golang.org/x/sys/unix"

	"github.com/spreadhttp/spread/handler"
	"github.com/spreadhttp/spread/reuseport"
	"github.com/spreadhttp/spread/supervisor"
)

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
	flagEngine = &cli.StringFlag{Name: "engine", Value: "net/http", EnvVars: []string{"SPREAD_ENGINE"},
		Usage: "HTTP engine of the workers: " + strings.Join(handler.Engines, " or ")}
	flagLogFormat = &cli.StringFlag{Name: "log-format", Value: "auto", EnvVars: []string{"SPREAD_LOG_FORMAT"},
		Usage: "log format: console, json, or auto (console on a terminal, else json)"}
	flagLogLevel = &cli.StringFlag{Name: "log-level", Value: "info", EnvVars: []string{"SPREAD_LOG_LEVEL"},
		Usage: "least severe log level written: debug, info, warn or error"}
	flagReadHeaderTimeout = &cli.DurationFlag{Name: "read-header-timeout", Value: 10 * time.Second, EnvVars: []string{"SPREAD_READ_HEADER_TIMEOUT"},
		Usage: "time a client has to send a request's headers"}
	flagIdleTimeout = &cli.DurationFlag{Name: "idle-timeout", Value: 60 * time.Second, EnvVars: []string{"SPREAD_IDLE_TIMEOUT"},
		Usage: "time an idle keep-alive connection is kept open"}
	flagMaxHeaderBytes = &cli.IntFlag{Name: "max-header-bytes", Value: 16 << 10, EnvVars: []string{"SPREAD_MAX_HEADER_BYTES"},
		Usage: "largest request header accepted, in bytes"}
)

// httpFlags are the flags that shape what a worker serves.
func httpFlags() []cli.Flag {
	return []cli.Flag{flagAddr, flagEngine, flagReadHeaderTimeout, flagIdleTimeout, flagMaxHeaderBytes, flagLogFormat, flagLogLevel}
}

func serveCommand() *cli.Command {
	cpus := runtime.NumCPU()
	return &cli.Command{
		Name:      "serve",
		Usage:     "run the supervisor and its workers in the foreground",
		ArgsUsage: "[-- CMD [ARGS...]]",
		Description: "Without CMD, every worker serves spread's built-in HTTP server. With -- CMD, every\n" +
			"worker runs CMD with its slot's listening socket as fd 3 (systemd socket activation:\n" +
			"LISTEN_FDS=1, LISTEN_PID, LISTEN_FDNAMES=http) and NOTIFY_SOCKET for READY=1.",
		OnUsageError: usageError,
		Flags: append(append(append(httpFlags(), tlsFlags()...), userFlags()...), flagAccessLog,
			&cli.IntFlag{Name: "workers", Value: cpus, EnvVars: []string{"SPREAD_WORKERS"},
				Usage: "number of worker processes at start"},
			&cli.IntFlag{Name: "max-workers", Value: 4 * cpus, EnvVars: []string{"SPREAD_MAX_WORKERS"},
				Usage: "most workers that scaling up (TTIN, spread scale) may reach"},
			&cli.DurationFlag{Name: "graceful-timeout", Value: supervisor.DefaultGracefulTimeout, EnvVars: []string{"SPREAD_GRACEFUL_TIMEOUT"},
				Usage: "time a stopping worker has to finish its requests before SIGKILL"},
			&cli.DurationFlag{Name: "min-uptime", Value: supervisor.DefaultMinUptime, EnvVars: []string{"SPREAD_MIN_UPTIME"},
				Usage: "a worker that dies younger than this restarts with backoff"},
			&cli.DurationFlag{Name: "max-backoff", Value: supervisor.DefaultMaxBackoff, EnvVars: []string{"SPREAD_MAX_BACKOFF"},
				Usage: "longest restart delay of a worker that keeps dying young"},
			&cli.IntFlag{Name: "max-restarts", Value: supervisor.DefaultMaxRestarts, EnvVars: []string{"SPREAD_MAX_RESTARTS"},
				Usage: "young deaths in a row after which a slot counts as failing"},
			&cli.DurationFlag{Name: "worker-timeout", Value: supervisor.DefaultWorkerTimeout, EnvVars: []string{"SPREAD_WORKER_TIMEOUT"},
				Usage: "heartbeat silence after which a worker is killed as hung (0 disables)"},
			&cli.DurationFlag{Name: "start-timeout", Value: supervisor.DefaultStartTimeout, EnvVars: []string{"SPREAD_START_TIMEOUT"},
				Usage: "time a new worker has to come online before it is killed as failed"},
			&cli.BoolFlag{Name: "allow-shared-port", EnvVars: []string{"SPREAD_ALLOW_SHARED_PORT"},
				Usage: "start even if another process already listens on the address"},
			// On by default: make bench measured +33% req/s and a lower p99
			// with a new connection per request, and no loss with keep-alive.
			&cli.BoolFlag{Name: "tcp-defer-accept", Value: true, EnvVars: []string{"SPREAD_TCP_DEFER_ACCEPT"},
				Usage: "queue a connection for accept only once its request has arrived (TCP_DEFER_ACCEPT); --tcp-defer-accept=false turns it off"},
			&cli.IntFlag{Name: "backlog", EnvVars: []string{"SPREAD_BACKLOG"},
				Usage: "accept-queue length of each slot's socket; 0 means net.core.somaxconn"},
			&cli.StringFlag{Name: "ready", Value: string(supervisor.ReadyStart), EnvVars: []string{"SPREAD_READY"},
				Usage: "with -- CMD, when a worker counts as online: start (after --ready-delay) or notify (when CMD sends READY=1 to $NOTIFY_SOCKET)"},
			&cli.DurationFlag{Name: "ready-delay", Value: supervisor.DefaultReadyDelay, EnvVars: []string{"SPREAD_READY_DELAY"},
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
			&cli.StringFlag{Name: "steer", Value: supervisor.SteerAuto, EnvVars: []string{"SPREAD_STEER"},
				Usage: "steer new connections away from starting, draining, hung or stuck workers with an eBPF SK_REUSEPORT program: auto (on when root/CAP_BPF allows), on, or off"},
			&cli.DurationFlag{Name: "steer-quarantine", Value: supervisor.DefaultSteerQuarantine, EnvVars: []string{"SPREAD_STEER_QUARANTINE"},
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
// worker.
func serve(c *cli.Context) error {
	log, closeLog, err := newLogger(c)
	if err != nil {
		return err
	}
	defer closeLog()
	command := c.Args().Slice()
	if _, err := validEngine(c.String("engine")); err != nil && len(command) == 0 {
		return err
	}
	if supervisor.IsWorker() {
		if len(command) > 0 {
			return supervisor.ExecWorker()
		}
		return runWorker(c, log)
	}
	stopSignal, err := signalFlag(c, "stop-signal")
	if err != nil {
		return err
	}
	hangSignal, err := signalFlag(c, "hang-signal")
	if err != nil {
		return err
	}
	maxMemory, err := parseSize(c.String("max-memory"))
	if err != nil {
		return fmt.Errorf("--max-memory: %w", err)
	}
	cfg := supervisor.Config{
		Addr:              c.String("addr"),
		Workers:           c.Int("workers"),
		MaxWorkers:        c.Int("max-workers"),
		GracefulTimeout:   c.Duration("graceful-timeout"),
		MinUptime:         c.Duration("min-uptime"),
		MaxBackoff:        c.Duration("max-backoff"),
		MaxRestarts:       c.Int("max-restarts"),
		WorkerTimeout:     c.Duration("worker-timeout"),
		StartTimeout:      c.Duration("start-timeout"),
		AllowSharedPort:   c.Bool("allow-shared-port"),
		ControlSocket:     controlPath(c),
		MetricsAddr:       c.String("metrics-addr"),
		PIDFile:           c.String("pidfile"),
		Socket:            socketOptions(c),
		Exec:              command,
		Ready:             supervisor.ReadyMode(c.String("ready")),
		ReadyDelay:        c.Duration("ready-delay"),
		StopSignal:        stopSignal,
		HangSignal:        hangSignal,
		MaxRequests:       c.Uint64("max-requests"),
		MaxRequestsJitter: c.Uint64("max-requests-jitter"),
		MaxMemory:         maxMemory,
		MaxAge:            c.Duration("max-age"),
		Steer:             c.String("steer"),
		SteerQuarantine:   c.Duration("steer-quarantine"),
		MaxAgeJitter:      c.Duration("max-age-jitter"),
		DrainDelay:        c.Duration("drain-delay"),
		Log:               log,
	}
	if !c.IsSet("max-workers") {
		cfg.MaxWorkers = max(cfg.MaxWorkers, cfg.Workers)
	}
	if err := checkServeFlags(c, &cfg); err != nil {
		return err
	}
	if err := checkTLSFlags(c, command); err != nil {
		return err
	}
	if err := checkAccessLogFlag(c, command); err != nil {
		return err
	}
	if err := applyUserFlags(c, &cfg); err != nil {
		return err
	}
	// "spread: supervisor :8000" in ps; a failed re-exec only costs the name.
	_ = supervisor.NameSupervisor(cfg.Addr)
	return supervisor.Run(context.Background(), cfg)
}

// checkServeFlags rejects values that the zero-means-default convention of
// supervisor.Config would otherwise quietly accept.
func checkServeFlags(c *cli.Context, cfg *supervisor.Config) error {
	switch {
	case cfg.Workers < 1:
		return fmt.Errorf("--workers must be at least 1, got %d", cfg.Workers)
	case cfg.Workers > supervisor.WorkerLimit:
		return fmt.Errorf("--workers must be at most %d (the scoreboard's capacity), got %d", supervisor.WorkerLimit, cfg.Workers)
	case cfg.MaxWorkers < 1:
		return fmt.Errorf("--max-workers must be at least 1, got %d", cfg.MaxWorkers)
	case cfg.MaxWorkers > supervisor.WorkerLimit:
		return fmt.Errorf("--max-workers must be at most %d (the scoreboard's capacity), got %d", supervisor.WorkerLimit, cfg.MaxWorkers)
	case cfg.GracefulTimeout <= 0:
		return fmt.Errorf("--graceful-timeout must be positive, got %s", cfg.GracefulTimeout)
	case cfg.MinUptime < 0:
		return fmt.Errorf("--min-uptime must not be negative, got %s", cfg.MinUptime)
	case cfg.MaxBackoff <= 0:
		return fmt.Errorf("--max-backoff must be positive, got %s", cfg.MaxBackoff)
	case cfg.MaxRestarts < 1:
		return fmt.Errorf("--max-restarts must be at least 1, got %d", cfg.MaxRestarts)
	case cfg.StartTimeout <= 0:
		return fmt.Errorf("--start-timeout must be positive, got %s", cfg.StartTimeout)
	case cfg.WorkerTimeout < 0:
		return fmt.Errorf("--worker-timeout must not be negative, got %s", cfg.WorkerTimeout)
	case c.Duration("read-header-timeout") <= 0, c.Duration("idle-timeout") <= 0:
		return errors.New("--read-header-timeout and --idle-timeout must be positive")
	case c.Int("backlog") < 0:
		return fmt.Errorf("--backlog must not be negative, got %d", c.Int("backlog"))
	case cfg.Ready != supervisor.ReadyStart && cfg.Ready != supervisor.ReadyNotify:
		return fmt.Errorf("--ready must be start or notify, got %q", cfg.Ready)
	case c.Duration("ready-delay") <= 0:
		return fmt.Errorf("--ready-delay must be positive, got %s", c.Duration("ready-delay"))
	case len(cfg.Exec) > 0 && cfg.Ready == supervisor.ReadyStart && cfg.ReadyDelay >= cfg.StartTimeout:
		return fmt.Errorf("--ready-delay (%s) must be shorter than --start-timeout (%s)", cfg.ReadyDelay, cfg.StartTimeout)
	case cfg.MaxRequests > 0 && len(cfg.Exec) > 0:
		return errors.New("--max-requests needs request counts, which spread does not have for a command after --; use --max-memory or --max-age")
	case cfg.Steer != supervisor.SteerAuto && cfg.Steer != supervisor.SteerOn && cfg.Steer != supervisor.SteerOff:
		return fmt.Errorf("--steer must be auto, on or off, got %q", cfg.Steer)
	case cfg.SteerQuarantine <= 0:
		return fmt.Errorf("--steer-quarantine must be positive, got %s", cfg.SteerQuarantine)
	case cfg.DrainDelay < 0:
		return fmt.Errorf("--drain-delay must not be negative, got %s", cfg.DrainDelay)
	case cfg.MaxAge < 0, cfg.MaxAgeJitter < 0:
		return errors.New("--max-age and --max-age-jitter must not be negative")
	case len(cfg.Exec) > 0 && cfg.Exec[0] == "":
		return errors.New("the command after -- is empty")
	case c.Int("max-header-bytes") < handler.MinHeaderBytes, c.Int("max-header-bytes") > handler.MaxHeaderBytesLimit:
		return fmt.Errorf("--max-header-bytes must lie within %d and %d, got %d", handler.MinHeaderBytes, handler.MaxHeaderBytesLimit, c.Int("max-header-bytes"))
	}
	if cfg.WorkerTimeout == 0 {
		cfg.WorkerTimeout = -1 // the flag's 0 means off; the Config's 0 means default
	}
	return nil
}

// signalFlag reads a signal flag: a name with or without SIG (TERM,
// SIGTERM) or a number.
func signalFlag(c *cli.Context, name string) (syscall.Signal, error) {
	v := strings.ToUpper(strings.TrimSpace(c.String(name)))
	if n, err := strconv.Atoi(v); err == nil && n > 0 && n < 65 {
		return syscall.Signal(n), nil
	}
	if !strings.HasPrefix(v, "SIG") {
		v = "SIG" + v
	}
	if sig := unix.SignalNum(v); sig != 0 && sig != unix.SIGKILL && sig != unix.SIGSTOP {
		return sig, nil
	}
	return 0, fmt.Errorf("--%s must name a signal that can be caught (e.g. TERM, INT, QUIT), got %q", name, c.String(name))
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

// socketOptions are the listening-socket options the flags ask for.
func socketOptions(c *cli.Context) reuseport.Options {
	var o reuseport.Options
	if c.Bool("tcp-defer-accept") {
		// One second is what nginx's deferred accept amounts to: the
		// kernel wakes the worker when the request arrives, or after 1s.
		o.DeferAccept = time.Second
	}
	o.Backlog = c.Int("backlog")
	return o
}

func validEngine(name string) (string, error) {
	for _, e := range handler.Engines {
		if e == name {
			return name, nil
		}
	}
	return "", fmt.Errorf("--engine must be one of %s, got %q", strings.Join(handler.Engines, ", "), name)
}

// handlerOptions are the worker's HTTP settings from the flags.
func handlerOptions(c *cli.Context, log zerolog.Logger) handler.Options {
	return handler.Options{
		Engine:            c.String("engine"),
		ReadHeaderTimeout: c.Duration("read-header-timeout"),
		IdleTimeout:       c.Duration("idle-timeout"),
		MaxHeaderBytes:    c.Int("max-header-bytes"),
		Log:               log,
	}
}

// runWorker is the hidden worker mode: the supervisor re-executes this
// binary with the same arguments and a worker spec in the environment.
func runWorker(c *cli.Context, log zerolog.Logger) error {
	if err := supervisor.CheckWorker(); err != nil {
		return err
	}
	info, _ := supervisor.CurrentWorker()
	log = log.With().Int("slot", info.Slot).Int("pid", os.Getpid()).Logger()
	opts := handlerOptions(c, log)
	opts.Slot = info.Slot
	opts.Recorder = info.Recorder
	var err error
	if opts.TLS, err = workerTLS(c); err != nil {
		return supervisor.FailWorker(err)
	}
	if opts.AccessLog, err = workerAccessLog(c, log); err != nil {
		return supervisor.FailWorker(err)
	}
	opts.Leaving = supervisor.Leaving
	srv, err := handler.New(opts)
	if err != nil {
		return supervisor.FailWorker(err)
	}
	return supervisor.ServeWorker(srv)
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
