// Package prefork serves a Go program's own HTTP handler the way spread
// serves its built-in one: one call, and the program runs as a supervisor
// that starts one worker process per core on a shared SO_REUSEPORT port,
// replaces any that exits, hangs or crashes, and reloads them one at a time
// without losing a request.
//
// The same binary plays both parts. Run by a user, ListenAndServe is the
// supervisor: it re-executes the program (same path, same arguments) once
// per worker and supervises until ctx is done or a signal stops it. Run by
// the supervisor, the same call is a worker: it serves the handler on its
// slot's socket with spread's request counting (spread status, /metrics),
// its careful drain (Connection: close once stopping, idle connections
// closed only when nothing waits in their socket) and its header and idle
// limits, until the supervisor tells it to stop. So main needs no branch:
//
//	func main() {
//		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
//			io.WriteString(w, "hello\n")
//		})
//		if err := prefork.ListenAndServe(context.Background(), ":8000", h); err != nil {
//			fmt.Fprintln(os.Stderr, err)
//			os.Exit(1)
//		}
//	}
//
// Everything before the call runs in every process, supervisor and workers
// alike; keep it to what both need.
//
// # Options are the flags of spread serve
//
// `spread serve` is a thin user of this package: each of its flags maps to
// the Option of the same name (--workers to Workers, --max-age to MaxAge,
// --tls-cert to TLSCert), with the same default and the same meaning of 0,
// and the CLI hands them to Run. The defaults and the rules live once, in
// supervisor.Config (DefaultConfig, Validate) and handler.Options
// (DefaultOptions, Validate), and an error names the setting as its flag:
// "--workers must be at least 1, got 0". The few flags that have no
// option are the CLI's own: --addr is the addr argument, --log-format and
// --log-level make the Logger, and --config reads flag values from a
// file. A command after -- is Exec. See docs/library.md for the table.
package prefork

import (
	"context"
	"errors"
	"net/http"
	"os"

	"github.com/valyala/fasthttp"

	"github.com/spreadhttp/spread/handler"
	"github.com/spreadhttp/spread/supervisor"
)

// ListenAndServe serves h on addr from a supervised group of net/http
// worker processes (see the package doc). In the supervisor it returns
// when the server has stopped: nil after a graceful stop (ctx done, SIGTERM,
// SIGINT, spread stop), an error when it could not start or every worker
// kept failing. In a worker it returns when the worker has drained; the
// program should then exit, with status 1 on an error.
func ListenAndServe(ctx context.Context, addr string, h http.Handler, opts ...Option) error {
	return Run(ctx, addr, withLast(opts, func(s *settings) { s.http.Engine, s.http.Handler = "net/http", h })...)
}

// ListenAndServeFast is ListenAndServe for a fasthttp handler, served by
// fasthttp workers.
func ListenAndServeFast(ctx context.Context, addr string, h fasthttp.RequestHandler, opts ...Option) error {
	return Run(ctx, addr, withLast(opts, func(s *settings) { s.http.Engine, s.http.FastHandler = "fasthttp", h })...)
}

// withLast is opts and then last, which so wins over them, in a new slice:
// appending to the caller's could write into its spare capacity.
func withLast(opts []Option, last Option) []Option {
	return append(opts[:len(opts):len(opts)], last)
}

// Run is ListenAndServe for spread's own server: its built-in pages, or,
// with Exec, a command of yours on the slot sockets. `spread serve` is
// this call, its flags mapped to opts.
func Run(ctx context.Context, addr string, opts ...Option) error {
	// A process that only has a worker's environment is refused before
	// anything else, without telling a supervisor it does not have.
	if err := supervisor.CheckWorker(); err != nil {
		return err
	}
	s, err := resolve(addr, opts, supervisor.IsWorker())
	if err != nil {
		// In a worker, the supervisor logs why; elsewhere it only returns.
		return supervisor.FailWorker(err)
	}
	if supervisor.IsWorker() {
		if len(s.cfg.Exec) > 0 {
			return supervisor.ExecWorker()
		}
		return serveWorker(s)
	}
	if err := s.preflight(); err != nil {
		return err
	}
	return supervisor.Run(ctx, s.cfg)
}

// Settings returns the supervisor's Config and the workers' handler
// Options that addr and opts make, defaults filled in, or the first
// setting the server could not run with. The files the options name are
// not opened.
func Settings(addr string, opts ...Option) (supervisor.Config, handler.Options, error) {
	s, err := resolve(addr, opts, false)
	if err != nil {
		return supervisor.Config{}, handler.Options{}, err
	}
	return s.cfg, s.http, nil
}

// resolve applies opts to the defaults and checks the result. A worker
// checks only what it serves with: its supervisor has checked the rest,
// and the addr a worker is given need not be the supervisor's.
func resolve(addr string, opts []Option, worker bool) (*settings, error) {
	s := defaults()
	for _, opt := range opts {
		opt(&s)
	}
	s.cfg.Addr = addr
	if s.log == nil {
		l := newLogger(os.Stderr)
		s.log = &l
	}
	s.cfg.Log, s.http.Log = *s.log, *s.log
	if !worker {
		// Any user or group that does not exist is a one-line error
		// here, before anything is bound.
		cred, err := supervisor.WorkerCredential(s.user, s.group)
		if err != nil {
			return nil, err
		}
		s.cfg.Credential = cred
	}
	switch {
	case worker:
		// The control socket is the supervisor's.
	case s.noControl:
		s.cfg.ControlSocket = ""
	case s.controlSocket != "":
		s.cfg.ControlSocket = s.controlSocket
	case s.cfg.Credential != nil:
		// Where the workers' user's plain `spread status` looks.
		s.cfg.ControlSocket = supervisor.DefaultControlSocketFor(addr, int(s.cfg.Credential.Uid), int(s.cfg.Credential.Gid))
	case s.cfg.ControlSocket == "":
		s.cfg.ControlSocket = supervisor.DefaultControlSocket(addr)
	}
	if !worker {
		if err := s.cfg.Validate(); err != nil {
			return nil, err
		}
	}
	if len(s.cfg.Exec) > 0 {
		// The command serves HTTP itself: spread's HTTP settings are not
		// its, and files only a built-in worker would open are refused.
		switch {
		case s.tlsCert != "" || s.tlsKey != "":
			return nil, errors.New("--tls-cert and --tls-key apply to the built-in workers; a command after -- terminates TLS itself")
		case s.accessLog != "":
			return nil, errors.New("--access-log applies to the built-in workers; a command after -- logs its own requests")
		}
		return &s, nil
	}
	if (s.tlsCert == "") != (s.tlsKey == "") {
		return nil, errors.New("--tls-cert and --tls-key go together: give both, or neither")
	}
	if err := s.http.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// preflight opens, in the supervisor before any worker starts, what each
// built-in worker will open, so that a certificate that does not load or
// an access log that cannot be written stops the server with one line
// instead of failing every worker.
func (s *settings) preflight() error {
	if s.tlsCert != "" {
		if _, err := handler.LoadTLS(s.tlsCert, s.tlsKey); err != nil {
			return err
		}
	}
	if s.accessLog != "" {
		a, err := handler.OpenAccessLog(s.accessLog)
		if err != nil {
			return err
		}
		return a.Close()
	}
	return nil
}
