// Command example-go is a plain net/http server for spread: it takes its
// listener from the systemd socket-activation protocol, as spread passes
// each worker its slot's SO_REUSEPORT socket on fd 3.
//
//	go build -o bin/example-go ./examples/go
//	spread serve --ready=notify -- bin/example-go
//
// Readiness: READY=1 goes to NOTIFY_SOCKET once the server accepts, and
// WATCHDOG=1 every WATCHDOG_USEC/2 while it runs.
//
// Stop: on SIGTERM (spread's stop signal) it stops accepting, finishes the
// requests in progress and exits 0 (see drain for why http.Server.Shutdown
// alone would lose requests). Connections still queued on the slot's
// socket stay there for the next worker: spread keeps that socket open.
// On SIGQUIT (spread: "you look hung") it writes every goroutine's stack
// to stderr, as Go's default would, then drains instead of dying with its
// requests; spread's SIGKILL follows within seconds.
//
// Routes: GET /delay?ms=N waits N ms (at most 60000), then answers like
// every other path: "hello from <pid>". Every answer carries X-Worker: <pid>.
package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/activation"
	"github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "example-go: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	ln, err := listener()
	if err != nil {
		return err
	}
	pid := strconv.Itoa(os.Getpid())
	d := newDrain()
	srv := &http.Server{
		Handler:           d.closing(hello(pid)),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ConnState:         d.track,
	}
	// Signals first, so that one arriving during start-up is not fatal.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT)

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	// The socket was listening before this process started: connections
	// queue until Serve accepts them, so ready means "Serve is running".
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		return fmt.Errorf("notify ready: %w", err)
	}
	stopPings := watchdog()
	defer stopPings()

	var sig os.Signal
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case sig = <-sigs:
	}
	_, _ = daemon.SdNotify(false, daemon.SdNotifyStopping)
	fmt.Fprintf(os.Stderr, "example-go: pid %s got %s: draining\n", pid, unix.SignalName(sig.(syscall.Signal)))
	if sig == syscall.SIGQUIT {
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
	}
	// No deadline of its own: spread's --graceful-timeout bounds the
	// drain, and its SIGKILL ends one that takes longer.
	return d.run(srv, ln, served)
}

// idleSettle is how long a connection with no request in progress must
// stay silent before the drain closes it: a keep-alive client sends its
// next request a moment after reading a response, and closing the
// connection in that moment would cut the request.
const idleSettle = time.Second

// drain stops srv without cutting a request. http.Server.Shutdown alone
// would: it drops any request it reads after it began, even the first on
// a connection accepted just before (net/http's conn.serve returns when
// shuttingDown), and closes idle keep-alive connections at once, under a
// request already on its way. No client retries a request cut on a new
// connection, and wrk retries none: spread's term drill counts both.
//
// Instead: close the listener, answer every request from then on with
// Connection: close, close connections silent for idleSettle, and call
// Shutdown only once no connection is left.
type drain struct {
	on    atomic.Bool
	mu    sync.Mutex
	conns map[net.Conn]connState
}

type connState struct {
	state http.ConnState
	since time.Time
}

func newDrain() *drain { return &drain{conns: map[net.Conn]connState{}} }

// track is the server's ConnState hook.
func (d *drain) track(c net.Conn, st http.ConnState) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch st {
	case http.StateClosed, http.StateHijacked:
		delete(d.conns, c)
	default:
		d.conns[c] = connState{st, time.Now()}
	}
}

// closing makes the answer to every request that starts during the drain
// its connection's last: net/http closes a connection after a Connection:
// close reply. A request in progress when the drain began keeps its
// keep-alive answer; its connection then goes idle and is swept.
func (d *drain) closing(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.on.Load() {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
}

// run drains srv, which serves ln and reports to served when Serve returns.
func (d *drain) run(srv *http.Server, ln net.Listener, served <-chan error) error {
	d.on.Store(true)
	_ = ln.Close()
	// Serve registers each connection it accepts (StateNew) before it
	// accepts the next: once it has returned, every connection is tracked.
	<-served
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for d.sweep() > 0 {
		<-tick.C
	}
	return srv.Shutdown(context.Background())
}

// sweep closes the connections that have had no request in progress for
// idleSettle, and returns how many connections are still open.
func (d *drain) sweep() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	for c, cs := range d.conns {
		if (cs.state == http.StateNew || cs.state == http.StateIdle) && time.Since(cs.since) >= idleSettle {
			_ = c.Close()
		}
	}
	return len(d.conns)
}

// listener returns the one socket passed with LISTEN_FDS. activation
// checks LISTEN_PID and unsets the LISTEN_* variables.
func listener() (net.Listener, error) {
	lns, err := activation.Listeners()
	if err != nil {
		return nil, err
	}
	if len(lns) != 1 || lns[0] == nil {
		return nil, errors.New("want one listening TCP socket passed as fd 3 (LISTEN_FDS=1, LISTEN_PID=<pid>); run it under spread or systemd-socket-activate")
	}
	return lns[0], nil
}

// watchdog sends WATCHDOG=1 every WATCHDOG_USEC/2 when the variable is set,
// until the returned function is called.
func watchdog() (stop func()) {
	every, err := daemon.SdWatchdogEnabled(false)
	if err != nil || every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every / 2)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_, _ = daemon.SdNotify(false, daemon.SdNotifyWatchdog)
			}
		}
	}()
	return func() { close(done) }
}

// hello answers "hello from <pid>" on every path, after ms milliseconds on
// /delay?ms=N.
func hello(pid string) http.Handler {
	body := []byte("hello from " + pid + "\n")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Worker", pid)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if r.URL.Path == "/delay" {
			ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
			if err != nil || ms < 0 || ms > 60000 {
				http.Error(w, "ms must be an integer between 0 and 60000", http.StatusBadRequest)
				return
			}
			select {
			case <-time.After(time.Duration(ms) * time.Millisecond):
			case <-r.Context().Done():
				return
			}
		}
		_, _ = w.Write(body)
	})
}
