// Package handler is what a spread worker serves: the HTTP routes, on a
// listener it is handed, and a graceful drain when it is told to stop.
//
// It knows HTTP and nothing about processes; the only socket it touches is
// the net.Listener given to Serve and the connections accepted from it.
// Two engines answer the same routes with the same headers: net/http (the
// default) and fasthttp.
package handler

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"github.com/valyala/fasthttp"
)

const (
	engineNetHTTP  = "net/http"
	engineFastHTTP = "fasthttp"
)

// Engines lists the valid values of Options.Engine, default first.
var Engines = []string{engineNetHTTP, engineFastHTTP}

// Recorder receives per-request and per-connection events so the worker can
// count them. Implementations must be safe for concurrent use and cheap
// (atomic adds): they are called on the request path. A nil Recorder in
// Options means no counting.
type Recorder interface {
	// RequestDone is called once per answered page request, /healthz
	// included, with the status sent (200, or 400 for a bad /delay), just
	// before the response goes out. It is not called for /favicon.ico.
	RequestDone(status int)
	// ConnOpened is called when a client connection has been accepted.
	ConnOpened()
	// ConnClosed is called when that connection is gone, exactly once per
	// ConnOpened.
	ConnClosed()
}

// Options configures a Server. The zero value is usable: New fills each
// zero setting with its default (see DefaultOptions), and a zero Slot,
// Pid, Recorder or Leaving means slot 0, this process, no counting and
// never leaving. The settings are those of the `spread serve` flags of the
// same name in kebab case (IdleTimeout is --idle-timeout), and Validate's
// errors name them that way.
type Options struct {
	// Slot is the worker slot shown in X-Worker.
	Slot int
	// Pid is the process id shown in the body and in X-Worker; 0 means
	// os.Getpid().
	Pid int
	// Engine is "net/http" (the default when "") or "fasthttp".
	Engine string
	// ReadHeaderTimeout bounds the reading of a request's headers; 0 means
	// 10s. fasthttp has no headers-only timeout, so there it bounds the whole
	// request read (its ReadTimeout).
	ReadHeaderTimeout time.Duration
	// IdleTimeout is how long a keep-alive connection may wait for its next
	// request; 0 means 60s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the size of a request's head (request line,
	// headers and the blank line after them), the same in both engines;
	// 0 means 16 KiB. Larger heads are refused with 431. It must lie
	// within [MinHeaderBytes, MaxHeaderBytesLimit].
	MaxHeaderBytes int
	// Leaving reports that the server is about to stop: while it returns
	// true, /healthz answers 503 with Connection: close and every other
	// route serves as usual, so that a load balancer moves traffic away
	// before the drain. nil means never.
	Leaving func() bool
	// Recorder counts requests and connections; nil means no counting.
	Recorder Recorder
	// TLS, when not nil, makes the Server speak HTTPS only (see LoadTLS):
	// HTTP/2 and HTTP/1.1 over ALPN with net/http, HTTP/1.1 with fasthttp.
	// nil means plain HTTP.
	TLS *tls.Config
	// AccessLog, when not nil, gets one line per answered request.
	AccessLog *AccessLog
	// Log receives request-level errors reported by the engine. Nothing is
	// logged per request.
	Log zerolog.Logger
	// Handler, when set, is served instead of the built-in routes by the
	// net/http engine, with counting and the careful drain (see
	// userhandler.go).
	Handler http.Handler
	// FastHandler is the same for the fasthttp engine.
	FastHandler fasthttp.RequestHandler
}

// Server serves the spread routes on listeners until Shutdown drains it.
// It satisfies the supervisor's interface:
//
//	Serve(ln net.Listener) error
//	Shutdown(ctx context.Context) error
type Server struct {
	engine engine
	conns  *connTable
	// draining is set once, by Shutdown. From then on every response carries
	// Connection: close, and the engine closes the connection after it.
	draining atomic.Bool

	mu        sync.Mutex
	listeners []*listener // open listeners, closed by Shutdown
	serving   int         // Serve calls that have not returned

	sweeps atomic.Int64 // idle sweeps Shutdown has completed; tests wait on it
}

// engine is one HTTP implementation behind a Server. serve answers the
// connections accepted from ln and returns once ln is closed.
type engine interface {
	serve(ln net.Listener) error
}

// netHTTPHeaderSlack is what net/http reads beyond its MaxHeaderBytes
// before it refuses a request head: it bounds the reads of a head by
// MaxHeaderBytes plus 4096 bytes of bufio slop (http.Server's
// initialReadLimitSize), so a head is refused only past that sum.
const netHTTPHeaderSlack = 4096

// Bounds of Options.MaxHeaderBytes. net/http is given MaxHeaderBytes less
// its slack, which must stay positive (0 would mean its 1 MB default), so
// that both engines refuse the same heads. fasthttp allocates a read
// buffer of MaxHeaderBytes per connection, so the limit also bounds memory.
const (
	MinHeaderBytes      = netHTTPHeaderSlack + 1
	MaxHeaderBytesLimit = 1 << 20
)

// DefaultOptions are the settings that New gives a zero Options: the
// net/http engine, 10s to read a request's headers, 60s for an idle
// keep-alive connection, and 16 KiB of request head.
func DefaultOptions() Options {
	return Options{
		Engine:            engineNetHTTP,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

// Validate reports the first setting of o that no Server can run with, in
// one line that names it as its `spread serve` flag (--idle-timeout). It
// checks o as it stands, without filling in defaults, so a zero timeout
// is refused: validate DefaultOptions() with your changes, or leave the
// defaults to New, which fills them in and then validates.
func (o Options) Validate() error {
	switch {
	case o.Engine != engineNetHTTP && o.Engine != engineFastHTTP:
		return fmt.Errorf("--engine must be one of %s, got %q", strings.Join(Engines, ", "), o.Engine)
	case o.ReadHeaderTimeout <= 0:
		return fmt.Errorf("--read-header-timeout must be positive, got %s", o.ReadHeaderTimeout)
	case o.IdleTimeout <= 0:
		return fmt.Errorf("--idle-timeout must be positive, got %s", o.IdleTimeout)
	case o.MaxHeaderBytes < MinHeaderBytes || o.MaxHeaderBytes > MaxHeaderBytesLimit:
		return fmt.Errorf("--max-header-bytes must lie within %d and %d, got %d", MinHeaderBytes, MaxHeaderBytesLimit, o.MaxHeaderBytes)
	case o.Handler != nil && o.Engine != engineNetHTTP:
		return fmt.Errorf("an http.Handler needs the net/http engine, not %s", o.Engine)
	case o.FastHandler != nil && o.Engine != engineFastHTTP:
		return fmt.Errorf("a fasthttp.RequestHandler needs the fasthttp engine, not %s", o.Engine)
	}
	return nil
}

// New returns a Server configured by opts, its zero settings filled with
// their defaults. It fails when the result does not pass Validate.
func New(opts Options) (*Server, error) {
	d := DefaultOptions()
	if opts.Engine == "" {
		opts.Engine = d.Engine
	}
	if opts.ReadHeaderTimeout == 0 {
		opts.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = d.IdleTimeout
	}
	if opts.MaxHeaderBytes == 0 {
		opts.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if opts.Pid == 0 {
		opts.Pid = os.Getpid()
	}
	if opts.Recorder == nil {
		opts.Recorder = noRecorder{}
	}
	if opts.Leaving == nil {
		opts.Leaving = neverLeaving
	}

	s := &Server{conns: newConnTable(opts.Recorder)}
	p := newPages(opts.Slot, opts.Pid)
	switch opts.Engine {
	case engineNetHTTP:
		s.engine = newNetHTTP(opts, p, &s.draining, s.conns)
	case engineFastHTTP:
		s.engine = newFastHTTP(opts, p, &s.draining, s.conns)
	}
	return s, nil
}

// Serve answers the connections accepted from ln. It blocks until ln is
// closed, and returns nil when Shutdown closed it; any other failure of ln
// is returned. Serve closes ln before returning.
//
// Serve returns as soon as Shutdown has closed the listener, while the
// connections it accepted are still draining: wait for Shutdown to return
// before exiting. Serve may run on several listeners at once. Called after
// Shutdown, it closes ln and returns nil at once.
func (s *Server) Serve(ln net.Listener) error {
	l := &listener{Listener: ln, conns: s.conns}
	defer l.Close()

	s.mu.Lock()
	if s.draining.Load() {
		s.mu.Unlock()
		return nil
	}
	s.listeners = append(s.listeners, l)
	s.serving++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.serving--
		s.mu.Unlock()
	}()

	err := s.engine.serve(l)
	if s.draining.Load() {
		return nil
	}
	if err == nil {
		// fasthttp returns nil for any closed listener; only ours is graceful.
		err = net.ErrClosed
	}
	return fmt.Errorf("serve: %w", err)
}

// Shutdown drains the server in the three steps of net/http's Shutdown, but
// without cutting a request that is already on its way:
//
//  1. From now on every response carries Connection: close and its
//     connection is closed after it.
//  2. The listeners are closed, so every Serve returns nil.
//  3. Every pollInterval, connections that are idle with nothing pending are
//     closed (see connTable.sweep), until none remain. Requests in flight
//     are answered, and so are requests whose bytes have reached the socket
//     but that the engine has not read yet.
//
// Shutdown returns nil once every connection is gone and every Serve has
// returned; by then each ConnOpened has been matched by a ConnClosed. If ctx
// ends first, Shutdown closes every remaining connection, busy or not, and
// returns ctx.Err() without waiting further: a handler still running (a long
// /delay) finishes in the background and its reply is lost. An error closing
// a listener is returned after the drain. Shutdown may be called more than
// once; a Server is not reusable after it.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining.Store(true)
	lns := s.listeners
	s.listeners = nil
	s.mu.Unlock()

	// The kernel resets the connections still waiting in a closed listener's
	// accept queue. With SO_REUSEPORT they are not handed to the sibling
	// sockets (unless net.ipv4.tcp_migrate_req is set), so the supervisor
	// starts the replacement worker before it drains this one.
	var lnErr error
	for _, l := range lns {
		if err := l.Close(); err != nil && !errors.Is(err, net.ErrClosed) && lnErr == nil {
			lnErr = fmt.Errorf("close listener %s: %w", l.Addr(), err)
		}
	}

	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for !s.drained() {
		select {
		case <-ctx.Done():
			s.conns.closeAll()
			return ctx.Err()
		case <-tick.C:
		}
	}
	return lnErr
}

// drained closes what can be closed and reports whether nothing is left:
// no Serve running and no connection open.
func (s *Server) drained() bool {
	// Read serving before sweeping: a listener adds each connection to the
	// table before Accept returns it, so once no Serve runs, the table holds
	// every connection that will ever be accepted.
	s.mu.Lock()
	serving := s.serving
	s.mu.Unlock()
	remaining := s.conns.sweep(monotime())
	s.sweeps.Add(1)
	return serving == 0 && remaining == 0
}

// noRecorder is the Recorder used when Options.Recorder is nil.
type noRecorder struct{}

func (noRecorder) RequestDone(int) {}
func (noRecorder) ConnOpened()     {}
func (noRecorder) ConnClosed()     {}
