package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/spreadhttp/spread/reuseport"
)

// Server is what a worker runs on its listener. *http.Server satisfies it,
// as does handler.Server.
type Server interface {
	// Serve accepts on ln until Shutdown; it returns nil (or
	// http.ErrServerClosed) after a graceful Shutdown.
	Serve(ln net.Listener) error
	// Shutdown stops accepting, lets in-flight requests finish and returns
	// when they have, or when ctx is done.
	Shutdown(ctx context.Context) error
}

// workerEnv names the environment variable that turns a process started by
// the supervisor into a worker. Its value is the JSON of workerSpec.
const workerEnv = "SPREAD_INTERNAL_WORKER_SPEC"

// Worker descriptors, as laid out by the supervisor through ExtraFiles.
const (
	channelFD  = 3
	boardFD    = 4
	listenerFD = 5 // present only when workerSpec.Inherit is set
)

// workerSpec is what the supervisor tells a worker at exec time.
type workerSpec struct {
	Slot            int               `json:"slot"`
	Addr            string            `json:"addr"`
	Inherit         bool              `json:"inherit"`
	Heartbeat       time.Duration     `json:"heartbeat"`
	GracefulTimeout time.Duration     `json:"graceful_timeout"`
	Board           int               `json:"board"` // scoreboard entry, -1 for none
	Socket          reuseport.Options `json:"socket"`
	// Exec is the user's command (exec mode), empty for a built-in worker.
	Exec []string `json:"exec,omitempty"`
	// Workers is the number of slots when the worker started.
	Workers int `json:"workers"`
	// NotifySocket is the supervisor's sd_notify socket for exec workers.
	NotifySocket string `json:"notify_socket,omitempty"`
	// Watchdog is the WATCHDOG_USEC an exec worker is given; 0 for none.
	Watchdog time.Duration `json:"watchdog,omitempty"`
	// Spare marks a worker started in advance, with no slot yet: Slot
	// means nothing until the supervisor gives it one (see spare.go).
	Spare bool `json:"spare,omitempty"`
	// QuietSysmon is Config.QuietSysmon, applied to the worker's GODEBUG
	// (workerEnviron).
	QuietSysmon bool `json:"quiet_sysmon,omitempty"`
}

// hungDrain bounds the drain of a worker told it is hung; it ends before
// the supervisor's SIGKILL, hungGrace after the SIGQUIT.
const hungDrain = 1500 * time.Millisecond

// orphanTimeout bounds the drain of a worker whose supervisor died, so that
// no worker outlives its supervisor by more than two seconds.
const orphanTimeout = time.Second

// IsWorker reports whether this process was started by a spread supervisor
// as one of its workers. A program that embeds spread calls it first in
// main and, if true, runs ServeWorker instead of Run.
func IsWorker() bool {
	_, ok := os.LookupEnv(workerEnv)
	return ok
}

// WorkerInfo describes the worker this process is.
type WorkerInfo struct {
	// Slot is the worker's slot, 0-based, stable across restarts.
	Slot int
	// Recorder counts requests and connections into the supervisor's
	// scoreboard; its methods are cheap atomic adds. It is never nil.
	Recorder *Counters
}

// CurrentWorker returns this worker's identity. ok is false when the
// process is not a worker. In a spare (Config.Spare), it waits until the
// supervisor gives the spare a slot, so call it where the slot is needed,
// after whatever can be prepared in advance.
func CurrentWorker() (info WorkerInfo, ok bool) {
	ws, err := workerSetup()
	if err != nil {
		return WorkerInfo{}, false
	}
	return WorkerInfo{Slot: ws.spec.Slot, Recorder: workerCounters(ws.spec)}, true
}

// workerCounters maps the scoreboard entry once per process.
var workerCounters = onceCounters()

func readSpec() (workerSpec, error) {
	raw, ok := os.LookupEnv(workerEnv)
	if !ok {
		return workerSpec{}, errors.New("not started by a spread supervisor")
	}
	return parseSpec(raw)
}

// parseSpec reads a worker spec and refuses values no supervisor sends:
// a negative slot, count or duration, or a scoreboard entry whose offset
// would not fit an int.
func parseSpec(raw string) (workerSpec, error) {
	var spec workerSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return spec, fmt.Errorf("worker spec: %w", err)
	}
	switch {
	case spec.Slot < 0, spec.Workers < 0, spec.Board < -1, spec.Board > math.MaxInt/entrySize:
		return spec, fmt.Errorf("worker spec: slot %d, workers %d or board %d out of range", spec.Slot, spec.Workers, spec.Board)
	case spec.Heartbeat < 0, spec.GracefulTimeout < 0, spec.Watchdog < 0:
		return spec, errors.New("worker spec: negative duration")
	}
	return spec, nil
}

// ServeWorker runs this process as a worker: it obtains its listener (the
// slot's socket inherited from the supervisor, or a new SO_REUSEPORT
// socket whose duplicate it hands to the supervisor), reports online, sends
// heartbeats, and serves with srv until SIGTERM or SIGINT, or until its
// supervisor is gone; then it drains srv and returns. A nil error means a
// clean stop, for which the worker should exit 0.
//
// A worker that cannot start reports why to the supervisor, which logs it,
// and returns the error.
func ServeWorker(srv Server) error {
	ws, err := workerSetup()
	if err != nil {
		return err
	}
	spec, ch := ws.spec, ws.ch
	defer ch.Close()

	// Signals first, so a SIGTERM that races with start-up is not fatal.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	// SIGQUIT is the supervisor's word for "you look hung". Go's default
	// would dump and exit at once, cutting every request in flight; a
	// worker that was only stopped (SIGSTOP) can still finish them. So the
	// worker writes the same dump itself, then drains briefly, before the
	// supervisor's SIGKILL.
	quit := make(chan os.Signal, 1)
	signal.Notify(quit, syscall.SIGQUIT)
	defer signal.Stop(quit)
	// SIGUSR2 is the supervisor's "the server is leaving" (see Leaving).
	catchLeaving()

	_ = send(ch, msgVersion, Version(), nil)
	ln, err := workerListener(ch, spec, ws.listener)
	if err != nil {
		_ = send(ch, msgFail, err.Error(), nil)
		return err
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	gone := make(chan struct{})
	go watchSupervisor(ch, gone)
	stopBeats := make(chan struct{})
	defer close(stopBeats)
	go beat(ch, spec.Heartbeat, stopBeats, workerCounters(spec))

	timeout := spec.GracefulTimeout
	select {
	case <-sigs:
	case <-gone:
		timeout = min(timeout, orphanTimeout)
	case <-quit:
		dumpGoroutines(spec.Slot)
		timeout = min(timeout, hungDrain)
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// A drain that runs out of time has still stopped the server: in-flight
	// requests past the deadline are cut, which the supervisor logs as a
	// straggler. The worker still exits 0: it did what it was told.
	_ = srv.Shutdown(ctx)
	<-served
	return nil
}

// workerListener returns the slot's listener. A worker of a slot that has
// no socket yet binds one and sends a duplicate with its ready message, so
// the supervisor keeps the socket, and its accept queue, open across this
// worker's death: the kernel resets the queue of a reuseport socket only
// when its last descriptor is closed. fd is the inherited socket's.
func workerListener(ch *net.UnixConn, spec workerSpec, fd int) (*net.TCPListener, error) {
	if spec.Inherit {
		ln, err := reuseport.FromFile(os.NewFile(uintptr(fd), "spread-listener"))
		if err != nil {
			return nil, fmt.Errorf("inherited listener: %w", err)
		}
		return ln, send(ch, msgReady, "", nil)
	}
	ln, err := reuseport.ListenWith(context.Background(), spec.Addr, spec.Socket)
	if err != nil {
		return nil, err
	}
	f, err := reuseport.File(ln)
	if err != nil {
		ln.Close()
		return nil, err
	}
	defer f.Close()
	if err := send(ch, msgReady, ln.Addr().String(), f); err != nil {
		ln.Close()
		return nil, fmt.Errorf("report ready: %w", err)
	}
	return ln, nil
}

// watchSupervisor closes gone when the channel reaches EOF: the supervisor
// exited or was killed. Pdeathsig cannot be trusted for this in Go (it fires
// when the forking OS thread exits, golang/go#27505); EOF can.
func watchSupervisor(ch *net.UnixConn, gone chan<- struct{}) {
	buf := make([]byte, 64)
	for {
		if _, err := ch.Read(buf); err != nil {
			close(gone)
			return
		}
	}
}

// beat sends a heartbeat every interval until stop is closed. A stopped or
// wedged process stops beating, which is what the supervisor watches for.
// On the same tick it returns the worker's free memory once the worker has
// gone quiet after a load (see idleRelease), as counted by counts.
func beat(ch *net.UnixConn, interval time.Duration, stop <-chan struct{}, counts *Counters) {
	if interval <= 0 {
		interval = time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	var idle idleRelease
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			if err := send(ch, msgBeat, "", nil); err != nil {
				return
			}
			if idle.observe(counts.Snapshot(), now) {
				releaseMemory()
			}
		}
	}
}

func onceCounters() func(workerSpec) *Counters {
	var once sync.Once
	var c *Counters
	return func(spec workerSpec) *Counters {
		once.Do(func() { c = openCounters(spec) })
		return c
	}
}

// dumpGoroutines writes every goroutine's stack to stderr, which is the
// supervisor's log, in the format of Go's own SIGQUIT dump.
func dumpGoroutines(slot int) {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	fmt.Fprintf(os.Stderr, "SIGQUIT: goroutine dump of spread worker slot %d pid %d\n%s\n", slot, os.Getpid(), buf)
}
