package prefork

import (
	"io"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/spreadhttp/spread/handler"
	"github.com/spreadhttp/spread/supervisor"
)

// Option adjusts the server. Each `spread serve` flag has the option of
// the same name (--max-age is MaxAge), taking the flag's value with the
// flag's meaning, 0 included: that is how the CLI sets up its server.
// Option values are checked when the server starts, with errors that name
// the flag.
type Option func(*settings)

// settings are what the options adjust: the supervisor's Config and the
// workers' handler Options, starting from their packages' defaults, plus
// what a worker opens itself.
type settings struct {
	cfg  supervisor.Config
	http handler.Options
	// tlsCert and tlsKey are the PEM files each built-in worker loads at
	// start; accessLog is the file it appends to ("" for none).
	tlsCert, tlsKey, accessLog string
	log                        *zerolog.Logger
	// controlSocket is ControlSocket's path ("" for the default), and
	// noControl is NoControlSocket.
	controlSocket string
	noControl     bool
	// user and group are the names (or ids) User and Group give.
	user, group string
}

// deferAccept is how long the kernel holds a connection whose request has
// not arrived before it queues it anyway, with TCPDeferAccept on: one
// second, what nginx's deferred accept amounts to. It is on by default
// for what make bench measured (bench/README.md, TCP_DEFER_ACCEPT).
const deferAccept = time.Second

// defaults are the settings with no option given: the supervisor's and the
// handler's defaults, TCP_DEFER_ACCEPT, the spare and the quiet sysmon on, and the control socket at its
// default path.
func defaults() settings {
	s := settings{cfg: supervisor.DefaultConfig(), http: handler.DefaultOptions()}
	s.cfg.Socket.DeferAccept = deferAccept
	s.cfg.Spare = true
	s.cfg.QuietSysmon = true
	return s
}

// Workers sets the number of worker processes at start (--workers);
// default: one per CPU.
func Workers(n int) Option { return func(s *settings) { s.cfg.Workers = n } }

// MaxWorkers caps scaling up with TTIN or `spread scale` (--max-workers);
// 0, the default, means 4 × CPUs and at least Workers.
func MaxWorkers(n int) Option { return func(s *settings) { s.cfg.MaxWorkers = n } }

// GracefulTimeout is the time a stopping worker has to finish its requests
// before SIGKILL (--graceful-timeout); default 10s.
func GracefulTimeout(d time.Duration) Option {
	return func(s *settings) { s.cfg.GracefulTimeout = d }
}

// MinUptime is the age below which a worker's death restarts it with
// backoff (--min-uptime); default 1s; 0 means every exit is a stable run.
func MinUptime(d time.Duration) Option {
	return func(s *settings) { s.cfg.MinUptime = offAtZero(d) }
}

// MaxBackoff is the longest restart delay of a slot that keeps dying young
// (--max-backoff); default 10s.
func MaxBackoff(d time.Duration) Option { return func(s *settings) { s.cfg.MaxBackoff = d } }

// MaxRestarts is the number of young deaths in a row after which a slot
// counts as failing (--max-restarts); default 10.
func MaxRestarts(n int) Option { return func(s *settings) { s.cfg.MaxRestarts = n } }

// WorkerTimeout is the heartbeat silence, or the time a slot's queue goes
// untaken, after which a worker is killed as hung (--worker-timeout);
// default 10s; 0 turns both checks off.
func WorkerTimeout(d time.Duration) Option {
	return func(s *settings) { s.cfg.WorkerTimeout = offAtZero(d) }
}

// offAtZero maps an option's 0, which means off, to supervisor.Off.
func offAtZero(d time.Duration) time.Duration {
	if d == 0 {
		return supervisor.Off
	}
	return d
}

// StartTimeout is the time a new worker has to come online before it is
// killed as failed (--start-timeout); default 10s.
func StartTimeout(d time.Duration) Option { return func(s *settings) { s.cfg.StartTimeout = d } }

// AllowSharedPort starts the server even if another process already
// listens on the address (--allow-shared-port); default false.
func AllowSharedPort(on bool) Option { return func(s *settings) { s.cfg.AllowSharedPort = on } }

// TCPDeferAccept has the kernel queue a connection for accept only once
// its request has arrived, or after a second (--tcp-defer-accept); default
// true.
func TCPDeferAccept(on bool) Option {
	return func(s *settings) {
		s.cfg.Socket.DeferAccept = 0
		if on {
			s.cfg.Socket.DeferAccept = deferAccept
		}
	}
}

// Spare keeps one worker started in advance, which takes the slot of a
// worker that dies or hangs at once (--spare); default true. It costs one
// idle process.
func Spare(on bool) Option { return func(s *settings) { s.cfg.Spare = on } }

// QuietSysmon keeps each built-in worker's Go scheduler monitor out of its
// deep sleep (--quiet-sysmon); default true. A worker then serves about
// 1.4× the requests per CPU-second under load, and prints one SCHED line
// to its stderr per 24.8 days of host uptime (bench/study-sysmon.md).
func QuietSysmon(on bool) Option { return func(s *settings) { s.cfg.QuietSysmon = on } }

// Backlog is the accept-queue length of each slot's socket (--backlog);
// 0, the default, means net.core.somaxconn.
func Backlog(n int) Option { return func(s *settings) { s.cfg.Socket.Backlog = n } }

// Exec makes every worker run argv (looked up in PATH) on its slot's
// socket, by systemd socket activation, instead of serving HTTP itself:
// `spread serve -- CMD ARGS...`. The HTTP options then do not apply.
func Exec(argv ...string) Option { return func(s *settings) { s.cfg.Exec = argv } }

// Ready says when an Exec worker counts as online (--ready):
// supervisor.ReadyStart (the default) or supervisor.ReadyNotify.
func Ready(mode supervisor.ReadyMode) Option { return func(s *settings) { s.cfg.Ready = mode } }

// ReadyDelay is how long an Exec worker under ReadyStart runs before it
// counts as online (--ready-delay); default 1s.
func ReadyDelay(d time.Duration) Option { return func(s *settings) { s.cfg.ReadyDelay = d } }

// StopSignal tells an Exec worker to drain and exit (--stop-signal);
// default SIGTERM.
func StopSignal(sig syscall.Signal) Option { return func(s *settings) { s.cfg.StopSignal = sig } }

// HangSignal is sent to a worker judged hung, 2s before SIGKILL
// (--hang-signal); default SIGQUIT.
func HangSignal(sig syscall.Signal) Option { return func(s *settings) { s.cfg.HangSignal = sig } }

// MaxRequests recycles a worker after this many requests (--max-requests);
// 0, the default, means never.
func MaxRequests(n uint64) Option { return func(s *settings) { s.cfg.MaxRequests = n } }

// MaxRequestsJitter adds a random 0..n to each worker's MaxRequests
// (--max-requests-jitter).
func MaxRequestsJitter(n uint64) Option {
	return func(s *settings) { s.cfg.MaxRequestsJitter = n }
}

// MaxMemory recycles a worker whose resident memory exceeds this many bytes
// (--max-memory); 0, the default, means never.
func MaxMemory(bytes uint64) Option { return func(s *settings) { s.cfg.MaxMemory = bytes } }

// MaxAge recycles a worker older than d (--max-age); 0, the default, means
// never.
func MaxAge(d time.Duration) Option { return func(s *settings) { s.cfg.MaxAge = d } }

// MaxAgeJitter adds a random 0..d to each worker's MaxAge
// (--max-age-jitter).
func MaxAgeJitter(d time.Duration) Option { return func(s *settings) { s.cfg.MaxAgeJitter = d } }

// Steer is supervisor.SteerAuto (the default), SteerOn or SteerOff
// (--steer): whether an eBPF program steers new connections away from
// workers that cannot take them.
func Steer(mode string) Option { return func(s *settings) { s.cfg.Steer = mode } }

// SteerQuarantine is how long a non-empty accept queue may stand still
// before its worker gets no new connections (--steer-quarantine); default
// supervisor.DefaultSteerQuarantine.
func SteerQuarantine(d time.Duration) Option {
	return func(s *settings) { s.cfg.SteerQuarantine = d }
}

// DrainDelay holds a graceful stop back this long while /healthz answers
// 503 (--drain-delay); 0, the default, means none.
func DrainDelay(d time.Duration) Option { return func(s *settings) { s.cfg.DrainDelay = d } }

// ControlSocket sets the control socket's path (--control-socket); "", the
// default, means supervisor.DefaultControlSocket(addr), where `spread
// status --addr ADDR` looks for it.
func ControlSocket(path string) Option { return func(s *settings) { s.controlSocket = path } }

// NoControlSocket serves no control socket, so `spread status`, `reload`
// and the other control commands cannot reach the server. The CLI always
// has one.
func NoControlSocket() Option { return func(s *settings) { s.noControl = true } }

// User runs every worker, built-in or Exec's command, as this user (a
// name or uid; --user); the supervisor keeps the privileges it started
// with and binds the sockets, as nginx's master does, and the control
// socket is handed to the user. "" (the default): workers run as the
// supervisor does.
func User(name string) Option { return func(s *settings) { s.user = name } }

// Group is the workers' group with User (a name or gid; --group);
// default: the user's primary group.
func Group(name string) Option { return func(s *settings) { s.group = name } }

// MetricsAddr also serves /metrics on this TCP address, a bare port
// meaning loopback (--metrics-addr); "", the default, means no such
// listener.
func MetricsAddr(addr string) Option { return func(s *settings) { s.cfg.MetricsAddr = addr } }

// PIDFile writes the supervisor's pid to path once it is ready, and
// removes it on exit (--pidfile); "", the default, means none.
func PIDFile(path string) Option { return func(s *settings) { s.cfg.PIDFile = path } }

// Engine is the HTTP engine of spread's built-in pages (--engine):
// "net/http" (the default) or "fasthttp". ListenAndServe and
// ListenAndServeFast set the engine their handler needs.
func Engine(name string) Option { return func(s *settings) { s.http.Engine = name } }

// ReadHeaderTimeout is the time a client has to send a request's headers
// (--read-header-timeout); default 10s.
func ReadHeaderTimeout(d time.Duration) Option {
	return func(s *settings) { s.http.ReadHeaderTimeout = d }
}

// IdleTimeout is how long an idle keep-alive connection is kept open
// (--idle-timeout); default 60s.
func IdleTimeout(d time.Duration) Option { return func(s *settings) { s.http.IdleTimeout = d } }

// MaxHeaderBytes bounds a request's head, in bytes (--max-header-bytes);
// default 16 KiB.
func MaxHeaderBytes(n int) Option { return func(s *settings) { s.http.MaxHeaderBytes = n } }

// TLSCert makes every worker serve HTTPS with this PEM certificate (chain),
// read at the worker's start, so a reload rotates it (--tls-cert). It
// needs TLSKey.
func TLSCert(path string) Option { return func(s *settings) { s.tlsCert = path } }

// TLSKey is the PEM private key of TLSCert (--tls-key).
func TLSKey(path string) Option { return func(s *settings) { s.tlsKey = path } }

// AccessLog has every worker append one JSON line per request to path, "-"
// meaning standard output (--access-log); SIGUSR1 to the supervisor
// reopens it. "", the default, means none.
func AccessLog(path string) Option { return func(s *settings) { s.accessLog = path } }

// Logger sends the supervisor's events and the workers' errors to l;
// default: JSON lines on stderr. The CLI builds l from --log-format and
// --log-level.
func Logger(l zerolog.Logger) Option { return func(s *settings) { s.log = &l } }

// LogTo writes the log as JSON lines to w, for a program that does not use
// zerolog itself.
func LogTo(w io.Writer) Option {
	return func(s *settings) {
		l := newLogger(w)
		s.log = &l
	}
}

// newLogger is the logger of LogTo and of no logging option: JSON lines
// whose time has milliseconds, as the CLI's, set per logger by a hook
// rather than through zerolog's globals, which belong to the program.
func newLogger(w io.Writer) zerolog.Logger {
	return zerolog.New(w).Hook(msTime{})
}

// msTime adds the time, RFC 3339 with milliseconds, to every event.
type msTime struct{}

func (msTime) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str(zerolog.TimestampFieldName, time.Now().Format("2006-01-02T15:04:05.000Z07:00"))
}

// Supervise adjusts the supervisor's Config directly, for what no option
// above covers (Command, Args). Addr and Log are set by the server.
func Supervise(f func(*supervisor.Config)) Option { return func(s *settings) { f(&s.cfg) } }

// HTTP adjusts the workers' handler Options directly. The handler, and
// with it the engine, are set by ListenAndServe and ListenAndServeFast.
func HTTP(f func(*handler.Options)) Option { return func(s *settings) { f(&s.http) } }
