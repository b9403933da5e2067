package supervisor

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/spreadhttp/spread/reuseport"
)

// Config is what a supervisor runs. Its settings are those of the
// `spread serve` flags of the same name in kebab case (MaxWorkers is
// --max-workers; Socket holds --backlog and --tcp-defer-accept, Exec the
// command after --), and Validate's errors name them that way.
//
// Run fills a zero field with its default, as DefaultConfig writes them
// out, so Config{Addr: addr} is a working configuration. A setting whose
// default is on but which can be turned off takes Off (WorkerTimeout,
// MinUptime); a limit without a default (MaxAge, MaxRequests, MaxMemory,
// DrainDelay) is off at 0.
type Config struct {
	// Addr is the TCP address every worker serves, "host:port".
	Addr string
	// Workers is the number of worker slots at start; default: CPUs.
	Workers int
	// MaxWorkers caps scaling up; 0 means 4 × CPUs, and at least Workers.
	MaxWorkers int
	// GracefulTimeout bounds a worker's drain; default 10s. Stragglers get
	// SIGKILL once it has passed.
	GracefulTimeout time.Duration
	// MinUptime is the run time from which a worker's exit counts as a
	// stable run; default 1s. Off counts every exit as stable: no backoff,
	// and no slot is ever failing.
	MinUptime time.Duration
	// MaxBackoff caps the restart delay of a slot that keeps dying young;
	// default 10s.
	MaxBackoff time.Duration
	// MaxRestarts is the number of young deaths in a row that make a slot
	// failing; default 10.
	MaxRestarts int
	// WorkerTimeout is the heartbeat silence, or the time a slot's queue
	// goes untaken, after which a worker counts as hung; default 10s. Off
	// disables both checks.
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
	// Ready says when an exec worker counts as online: ReadyStart (the
	// default; after ReadyDelay) or ReadyNotify (when it sends READY=1).
	// Built-in workers always report readiness themselves.
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
	// before its slot gets no new connections; default
	// DefaultSteerQuarantine.
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
	// Spare keeps one built-in worker started in advance, which takes the
	// slot of a worker that dies or hangs in about a millisecond instead
	// of a process start (see spare.go). It costs one idle process; it is
	// off in a zero Config, on in prefork and `spread serve` (--spare),
	// and a command after -- never has one.
	Spare bool
	// QuietSysmon starts built-in workers with GODEBUG schedtrace set to
	// its largest value, which keeps the Go runtime's monitor thread
	// (sysmon) out of its deep sleep: waking from it, sysmon polls every
	// 20µs for a millisecond or more, and a worker that goes idle between
	// requests pays that on every wake-up (bench/study-sysmon.md). The
	// trace it also turns on prints once per 24.8 days of the host's
	// monotonic clock. Off in a zero Config, on in prefork and `spread
	// serve` (--quiet-sysmon); a GODEBUG schedtrace of the user's wins,
	// and a command after -- is never given one.
	QuietSysmon bool
	// Socket holds the options of the slots' listening sockets; its zero
	// value is the kernel's defaults (no TCP_DEFER_ACCEPT, the backlog
	// net.core.somaxconn).
	Socket reuseport.Options
	// ControlSocket is the path of the control socket; "" means no
	// control socket (DefaultControlSocket is where the CLI puts it).
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

// Off turns off a Config setting whose zero value means an enabled
// default: WorkerTimeout (no hung-worker checks) and MinUptime (every exit
// is a stable run). It is no duration anyone would set.
const Off time.Duration = math.MinInt64

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

// DefaultConfig is the Config that Run makes of a zero one, each default
// written out, except three: MaxWorkers stays 0 because its default
// follows Workers, and Command and Args, which Run reads from this process
// when it starts.
func DefaultConfig() Config {
	return Config{
		Workers:         runtime.NumCPU(),
		GracefulTimeout: DefaultGracefulTimeout,
		MinUptime:       DefaultMinUptime,
		MaxBackoff:      DefaultMaxBackoff,
		MaxRestarts:     DefaultMaxRestarts,
		WorkerTimeout:   DefaultWorkerTimeout,
		StartTimeout:    DefaultStartTimeout,
		Ready:           ReadyStart,
		ReadyDelay:      DefaultReadyDelay,
		StopSignal:      syscall.SIGTERM,
		HangSignal:      syscall.SIGQUIT,
		Steer:           SteerAuto,
		SteerQuarantine: DefaultSteerQuarantine,
	}
}

// fill replaces each zero field of c that has a default with that
// default, MaxWorkers included.
func (c Config) fill() Config {
	d := DefaultConfig()
	orDefault(&c.Workers, d.Workers)
	orDefault(&c.MaxWorkers, max(4*runtime.NumCPU(), c.Workers))
	orDefault(&c.GracefulTimeout, d.GracefulTimeout)
	orDefault(&c.MinUptime, d.MinUptime)
	orDefault(&c.MaxBackoff, d.MaxBackoff)
	orDefault(&c.MaxRestarts, d.MaxRestarts)
	orDefault(&c.WorkerTimeout, d.WorkerTimeout)
	orDefault(&c.StartTimeout, d.StartTimeout)
	orDefault(&c.Ready, d.Ready)
	orDefault(&c.ReadyDelay, d.ReadyDelay)
	orDefault(&c.StopSignal, d.StopSignal)
	orDefault(&c.HangSignal, d.HangSignal)
	orDefault(&c.Steer, d.Steer)
	orDefault(&c.SteerQuarantine, d.SteerQuarantine)
	return c
}

// orDefault sets *v to d when *v is zero.
func orDefault[T comparable](v *T, d T) {
	var zero T
	if *v == zero {
		*v = d
	}
}

// Validate reports the first setting of c that a server cannot run with,
// in one line that names it as its `spread serve` flag (--workers). It
// checks c as it stands, without filling in defaults: a zero is refused
// where a zero cannot run (Workers, GracefulTimeout…), so validate
// DefaultConfig() with your changes, or leave the defaults to Run, which
// fills them in and then validates.
func (c Config) Validate() error {
	switch {
	case c.Workers < 1:
		return fmt.Errorf("--workers must be at least 1, got %d", c.Workers)
	case c.Workers > WorkerLimit:
		return fmt.Errorf("--workers must be at most %d (the scoreboard's capacity), got %d", WorkerLimit, c.Workers)
	case c.MaxWorkers < 0:
		return fmt.Errorf("--max-workers must be at least 1 (or 0 for 4 × CPUs), got %d", c.MaxWorkers)
	case c.MaxWorkers > WorkerLimit:
		return fmt.Errorf("--max-workers must be at most %d (the scoreboard's capacity), got %d", WorkerLimit, c.MaxWorkers)
	case c.MaxWorkers != 0 && c.MaxWorkers < c.Workers:
		return fmt.Errorf("--max-workers (%d) must be at least --workers (%d)", c.MaxWorkers, c.Workers)
	case c.GracefulTimeout <= 0:
		return fmt.Errorf("--graceful-timeout must be positive, got %s", c.GracefulTimeout)
	case c.MinUptime < 0 && c.MinUptime != Off:
		return fmt.Errorf("--min-uptime must not be negative, got %s", c.MinUptime)
	case c.MaxBackoff <= 0:
		return fmt.Errorf("--max-backoff must be positive, got %s", c.MaxBackoff)
	case c.MaxRestarts < 1:
		return fmt.Errorf("--max-restarts must be at least 1, got %d", c.MaxRestarts)
	case c.StartTimeout <= 0:
		return fmt.Errorf("--start-timeout must be positive, got %s", c.StartTimeout)
	case c.WorkerTimeout < 0 && c.WorkerTimeout != Off:
		return fmt.Errorf("--worker-timeout must not be negative, got %s", c.WorkerTimeout)
	case c.Socket.Backlog < 0:
		return fmt.Errorf("--backlog must not be negative, got %d", c.Socket.Backlog)
	case c.Ready != ReadyStart && c.Ready != ReadyNotify:
		return fmt.Errorf("--ready must be %s or %s, got %q", ReadyStart, ReadyNotify, c.Ready)
	case c.ReadyDelay <= 0:
		return fmt.Errorf("--ready-delay must be positive, got %s", c.ReadyDelay)
	case c.execMode() && c.Ready == ReadyStart && c.ReadyDelay >= c.StartTimeout:
		return fmt.Errorf("--ready-delay (%s) must be shorter than --start-timeout (%s)", c.ReadyDelay, c.StartTimeout)
	case !catchable(c.StopSignal):
		return fmt.Errorf("--stop-signal must name a signal that can be caught (e.g. TERM, INT, QUIT), got %s", signalName(c.StopSignal))
	case !catchable(c.HangSignal):
		return fmt.Errorf("--hang-signal must name a signal that can be caught (e.g. TERM, INT, QUIT), got %s", signalName(c.HangSignal))
	case c.MaxRequests > 0 && c.execMode():
		return errors.New("--max-requests needs request counts, which spread does not have for a command after --; use --max-memory or --max-age")
	case c.Steer != SteerAuto && c.Steer != SteerOn && c.Steer != SteerOff:
		return fmt.Errorf("--steer must be auto, on or off, got %q", c.Steer)
	case c.SteerQuarantine <= 0:
		return fmt.Errorf("--steer-quarantine must be positive, got %s", c.SteerQuarantine)
	case c.DrainDelay < 0:
		return fmt.Errorf("--drain-delay must not be negative, got %s", c.DrainDelay)
	case c.MaxAge < 0, c.MaxAgeJitter < 0:
		return errors.New("--max-age and --max-age-jitter must not be negative")
	case c.execMode() && c.Exec[0] == "":
		return errors.New("the command after -- is empty")
	}
	if err := reuseport.ValidateAddr(c.Addr); err != nil {
		return err
	}
	// Port 0 would give every worker a port of its own, not one port
	// shared by the group.
	if _, port, _ := net.SplitHostPort(c.Addr); port == "0" {
		return fmt.Errorf("invalid address %q: port 0 would give each worker a different port; name the port", c.Addr)
	}
	return nil
}

// catchable reports whether a process can catch sig: a signal number the
// kernel has, and neither SIGKILL nor SIGSTOP.
func catchable(sig syscall.Signal) bool {
	return sig > 0 && sig <= 64 && sig != syscall.SIGKILL && sig != syscall.SIGSTOP
}

// signalName is sig as the kernel names it (SIGKILL), or its number.
func signalName(sig syscall.Signal) string {
	if name := unix.SignalName(sig); name != "" {
		return name
	}
	return strconv.Itoa(int(sig))
}

// withDefaults is the Config that Run runs: c with its defaults filled in
// and this process's executable and arguments for the workers, once it
// has passed Validate.
func (c *Config) withDefaults() (Config, error) {
	cfg := c.fill()
	if err := cfg.Validate(); err != nil {
		return cfg, err
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
