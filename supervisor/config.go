package supervisor

import (
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/spreadhttp/spread/reuseport"
)

// Config is what a supervisor runs. The zero value of every field but Addr
// means its default.
type Config struct {
	// Addr is the TCP address every worker serves, "host:port".
	Addr string
	// Workers is the number of worker slots at start; default: CPUs.
	Workers int
	// MaxWorkers caps scaling up; default: 4 × CPUs.
	MaxWorkers int
	// GracefulTimeout bounds a worker's drain; default 10s. Stragglers get
	// SIGKILL once it has passed.
	GracefulTimeout time.Duration
	// MinUptime is the run time from which a worker's exit counts as a
	// stable run; default 1s.
	MinUptime time.Duration
	// MaxBackoff caps the restart delay of a slot that keeps dying young;
	// default 10s.
	MaxBackoff time.Duration
	// MaxRestarts is the number of young deaths in a row that make a slot
	// failing; default 10.
	MaxRestarts int
	// WorkerTimeout is the heartbeat silence after which a worker counts as
	// hung; 0 means the default 10s, a negative value disables the check.
	WorkerTimeout time.Duration
	// StartTimeout bounds how long a new worker may take to come online;
	// default 10s.
	StartTimeout time.Duration
	// AllowSharedPort lets the server start on an address another process
	// already listens on (see reuseport.Holders).
	AllowSharedPort bool
	// Command is the program run for each worker; default: this
	// executable's path, resolved once at start so that a binary rebuilt in
	// place is what a reload runs.
	Command string
	// Args are the worker's arguments after the program name; default:
	// this process's own (os.Args[1:]).
	Args []string
	// Exec, when set, is the program every worker becomes (argv, with
	// Exec[0] looked up in PATH at each worker start): the worker binds or
	// inherits its slot's socket, then execve's Exec with that socket as fd
	// 3 under the systemd socket-activation protocol. Empty means the
	// built-in server.
	Exec []string
	// Ready says when an exec worker counts as online: ReadyStart (after
	// ReadyDelay) or ReadyNotify (when it sends READY=1). Built-in workers
	// always report readiness themselves.
	Ready ReadyMode
	// ReadyDelay is how long an exec worker must run before it counts as
	// online under ReadyStart; default 1s.
	ReadyDelay time.Duration
	// StopSignal asks an exec worker to drain and exit; default SIGTERM.
	// Built-in workers always get SIGTERM.
	StopSignal syscall.Signal
	// HangSignal is sent to a worker judged hung, before SIGKILL follows
	// hungGrace later; default SIGQUIT, which makes a built-in or any Go
	// worker write its goroutine dump.
	HangSignal syscall.Signal
	// MaxRequests recycles a built-in worker once it has answered this many
	// requests, plus a random 0..MaxRequestsJitter of its own; 0 means no
	// limit. Exec workers are not counted, so it needs built-in workers.
	MaxRequests, MaxRequestsJitter uint64
	// MaxMemory recycles any worker whose resident memory exceeds this
	// many bytes; 0 means no limit.
	MaxMemory uint64
	// MaxAge recycles a worker older than this, plus a random
	// 0..MaxAgeJitter of its own; 0 means no limit.
	MaxAge, MaxAgeJitter time.Duration
	// Steer is SteerAuto (default), SteerOn or SteerOff: whether an
	// SK_REUSEPORT program keeps new connections away from slots that
	// cannot take them (see steer.go).
	Steer string
	// SteerQuarantine is how long a non-empty accept queue may stand still
	// before its slot gets no new connections; default 250ms.
	SteerQuarantine time.Duration
	// DrainDelay holds a graceful stop back this long before the workers
	// get their stop signal, while built-in workers answer /healthz with
	// 503 (see draindelay.go); 0 means none, a second TERM or INT cuts it.
	DrainDelay time.Duration
	// Credential, when set, is the user and groups every worker runs as,
	// built-in or a command of the user's; the supervisor keeps its own
	// privileges, binds the slots' sockets itself, and hands the control
	// socket to this user (see privdrop.go). nil: workers run as the
	// supervisor does.
	Credential *syscall.Credential
	// Socket holds the options of the slots' listening sockets.
	Socket reuseport.Options
	// ControlSocket is the path of the control socket; "" means no
	// control socket.
	ControlSocket string
	// MetricsAddr, when set, also serves /metrics on this TCP address (see
	// MetricsAddr for how a bare port is read).
	MetricsAddr string
	// PIDFile is written once the server is ready and removed on exit; ""
	// means none.
	PIDFile string
	// Log receives every supervisor event.
	Log zerolog.Logger
}

// Defaults of Config.
const (
	DefaultGracefulTimeout = 10 * time.Second
	DefaultMinUptime       = time.Second
	DefaultMaxBackoff      = 10 * time.Second
	DefaultMaxRestarts     = 10
	DefaultWorkerTimeout   = 10 * time.Second
	DefaultStartTimeout    = 10 * time.Second
	DefaultReadyDelay      = time.Second
	baseBackoff            = 100 * time.Millisecond
	// hungGrace is how long a hung worker has to write its goroutine dump
	// after SIGQUIT before it gets SIGKILL.
	hungGrace = 2 * time.Second
)

func (c *Config) withDefaults() (Config, error) {
	cfg := *c
	cpus := runtime.NumCPU()
	if cfg.Workers == 0 {
		cfg.Workers = cpus
	}
	if cfg.MaxWorkers == 0 {
		cfg.MaxWorkers = 4 * cpus
	}
	if cfg.GracefulTimeout == 0 {
		cfg.GracefulTimeout = DefaultGracefulTimeout
	}
	if cfg.MinUptime == 0 {
		cfg.MinUptime = DefaultMinUptime
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MaxRestarts == 0 {
		cfg.MaxRestarts = DefaultMaxRestarts
	}
	if cfg.WorkerTimeout == 0 {
		cfg.WorkerTimeout = DefaultWorkerTimeout
	}
	if cfg.StartTimeout == 0 {
		cfg.StartTimeout = DefaultStartTimeout
	}
	if cfg.ReadyDelay == 0 {
		cfg.ReadyDelay = DefaultReadyDelay
	}
	if cfg.Ready == "" {
		cfg.Ready = ReadyStart
	}
	if cfg.StopSignal == 0 {
		cfg.StopSignal = syscall.SIGTERM
	}
	if cfg.HangSignal == 0 {
		cfg.HangSignal = syscall.SIGQUIT
	}
	if cfg.Steer == "" {
		cfg.Steer = SteerAuto
	}
	if cfg.SteerQuarantine == 0 {
		cfg.SteerQuarantine = DefaultSteerQuarantine
	}
	if cfg.Args == nil {
		cfg.Args = os.Args[1:]
	}
	if cfg.Command == "" {
		exe, err := os.Executable()
		if err != nil {
			return cfg, fmt.Errorf("find own executable: %w", err)
		}
		cfg.Command = exe
	}
	switch {
	case cfg.Workers < 1:
		return cfg, fmt.Errorf("workers must be at least 1, got %d", cfg.Workers)
	case cfg.MaxWorkers < cfg.Workers:
		return cfg, fmt.Errorf("max-workers (%d) must be at least workers (%d)", cfg.MaxWorkers, cfg.Workers)
	case cfg.MaxWorkers > WorkerLimit:
		return cfg, fmt.Errorf("max-workers must be at most %d (the scoreboard's capacity), got %d", WorkerLimit, cfg.MaxWorkers)
	case cfg.GracefulTimeout < 0:
		return cfg, errors.New("graceful-timeout must not be negative")
	case cfg.MinUptime < 0, cfg.MaxBackoff < 0:
		return cfg, errors.New("min-uptime and max-backoff must not be negative")
	case cfg.MaxRestarts < 1:
		return cfg, fmt.Errorf("max-restarts must be at least 1, got %d", cfg.MaxRestarts)
	case cfg.Ready != ReadyStart && cfg.Ready != ReadyNotify:
		return cfg, fmt.Errorf("ready must be %q or %q, got %q", ReadyStart, ReadyNotify, cfg.Ready)
	case cfg.MaxRequests > 0 && len(cfg.Exec) > 0:
		return cfg, errors.New("max-requests needs request counts, which spread does not have for a command of yours; use max-memory or max-age")
	case cfg.MaxAge < 0, cfg.MaxAgeJitter < 0:
		return cfg, errors.New("max-age and its jitter must not be negative")
	case cfg.Steer != SteerAuto && cfg.Steer != SteerOn && cfg.Steer != SteerOff:
		return cfg, fmt.Errorf("steer must be auto, on or off, got %q", cfg.Steer)
	case cfg.SteerQuarantine < 0:
		return cfg, errors.New("steer-quarantine must not be negative")
	case cfg.ReadyDelay < 0:
		return cfg, errors.New("ready-delay must not be negative")
	case len(cfg.Exec) > 0 && cfg.Ready == ReadyStart && cfg.ReadyDelay >= cfg.StartTimeout:
		return cfg, fmt.Errorf("ready-delay (%s) must be shorter than start-timeout (%s)", cfg.ReadyDelay, cfg.StartTimeout)
	}
	if err := reuseport.ValidateAddr(cfg.Addr); err != nil {
		return cfg, err
	}
	// Port 0 would give every worker a port of its own, not one port
	// shared by the group.
	if _, port, _ := net.SplitHostPort(cfg.Addr); port == "0" {
		return cfg, fmt.Errorf("invalid address %q: port 0 would give each worker a different port; name the port", cfg.Addr)
	}
	return cfg, nil
}

// ReadyMode says when an exec worker counts as online.
type ReadyMode string

// The ready modes of an exec worker.
const (
	// ReadyStart: online once it has run for Config.ReadyDelay. Its slot's
	// socket is listening before it starts, so connections that arrive
	// earlier wait in the queue rather than fail.
	ReadyStart ReadyMode = "start"
	// ReadyNotify: online when it sends READY=1 to $NOTIFY_SOCKET, as a
	// systemd Type=notify service does.
	ReadyNotify ReadyMode = "notify"
)

// execMode reports whether workers run a command of the user's.
func (c *Config) execMode() bool { return len(c.Exec) > 0 }

// policy is the restart policy the config asks for.
func (c *Config) policy() Policy {
	return Policy{
		MinUptime:   c.MinUptime,
		BaseBackoff: baseBackoff,
		MaxBackoff:  c.MaxBackoff,
		MaxRestarts: c.MaxRestarts,
	}
}

// heartbeat is how often workers beat: often enough that a timeout sees
// several missed beats before it fires.
func (c *Config) heartbeat() time.Duration {
	if c.WorkerTimeout <= 0 {
		return time.Second
	}
	return min(time.Second, max(c.WorkerTimeout/4, 50*time.Millisecond))
}
