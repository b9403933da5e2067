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
package prefork

import (
	"context"
	"io"
	"net/http"
	"os"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"

	"github.com/spreadhttp/spread/handler"
	"github.com/spreadhttp/spread/supervisor"
)

// Option adjusts the server.
type Option func(*options)

type options struct {
	cfg     supervisor.Config
	http    handler.Options
	log     *zerolog.Logger
	control bool // ControlSocket was set by an option
}

// Workers sets the number of worker processes; default: one per CPU.
func Workers(n int) Option { return func(o *options) { o.cfg.Workers = n } }

// Logger sends the supervisor's events and the workers' errors to l;
// default: JSON lines on stderr.
func Logger(l zerolog.Logger) Option { return func(o *options) { o.log = &l } }

// LogTo writes the log as JSON lines to w, for a program that does not use
// zerolog itself.
func LogTo(w io.Writer) Option {
	return func(o *options) {
		l := zerolog.New(w).With().Timestamp().Logger()
		o.log = &l
	}
}

// ControlSocket sets the control socket's path; "" turns it off. Default:
// supervisor.DefaultControlSocket(addr), where `spread status --addr ADDR`
// looks for it.
func ControlSocket(path string) Option {
	return func(o *options) { o.cfg.ControlSocket, o.control = path, true }
}

// Supervise adjusts the supervisor's Config (restart policy, timeouts,
// recycling, steering, metrics address…) beyond the options above. Addr and
// Log are set by ListenAndServe.
func Supervise(f func(*supervisor.Config)) Option { return func(o *options) { f(&o.cfg) } }

// HTTP adjusts the workers' HTTP limits (header timeout, idle timeout,
// header size). The handler and engine are set by ListenAndServe.
func HTTP(f func(*handler.Options)) Option { return func(o *options) { f(&o.http) } }

// ListenAndServe serves h on addr from a supervised group of net/http
// worker processes (see the package doc). In the supervisor it returns
// when the server has stopped: nil after a graceful stop (ctx done, SIGTERM,
// SIGINT, spread stop), an error when it could not start or every worker
// kept failing. In a worker it returns when the worker has drained; the
// program should then exit, with status 1 on an error.
func ListenAndServe(ctx context.Context, addr string, h http.Handler, opts ...Option) error {
	return listenAndServe(ctx, addr, func(o *handler.Options) { o.Engine, o.Handler = "net/http", h }, opts)
}

// ListenAndServeFast is ListenAndServe for a fasthttp handler, served by
// fasthttp workers.
func ListenAndServeFast(ctx context.Context, addr string, h fasthttp.RequestHandler, opts ...Option) error {
	return listenAndServe(ctx, addr, func(o *handler.Options) { o.Engine, o.FastHandler = "fasthttp", h }, opts)
}

func listenAndServe(ctx context.Context, addr string, serve func(*handler.Options), opts []Option) error {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	log := zerolog.New(os.Stderr).With().Timestamp().Logger()
	if o.log != nil {
		log = *o.log
	}
	if supervisor.IsWorker() {
		return serveWorker(&o, serve, log)
	}
	o.cfg.Addr, o.cfg.Log = addr, log
	if !o.control {
		o.cfg.ControlSocket = supervisor.DefaultControlSocket(addr)
	}
	return supervisor.Run(ctx, o.cfg)
}

// serveWorker is the worker's side: the handler on the slot's socket,
// counted into the supervisor's scoreboard.
func serveWorker(o *options, serve func(*handler.Options), log zerolog.Logger) error {
	if err := supervisor.CheckWorker(); err != nil {
		return err
	}
	info, _ := supervisor.CurrentWorker()
	hopts := o.http
	serve(&hopts)
	hopts.Slot, hopts.Recorder = info.Slot, info.Recorder
	hopts.Log = log.With().Int("slot", info.Slot).Int("pid", os.Getpid()).Logger()
	srv, err := handler.New(hopts)
	if err != nil {
		return err
	}
	return supervisor.ServeWorker(srv)
}
