package supervisor

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spreadhttp/spread/reuseport"
)

// worker is the supervisor's record of one worker process. It is owned by
// the supervisor loop.
type worker struct {
	slot     *slot
	pid      int
	cmd      *exec.Cmd
	ch       *net.UnixConn
	board    int
	started  time.Time
	online   bool
	lastBeat time.Time
	// failure is the reason the worker gave for not starting, if any.
	failure string
	// reason says why the supervisor ended this worker (one of the
	// reason constants); empty while the supervisor wants it alive.
	reason string
	// quitAt is when a hung worker got SIGQUIT; killAt is when a worker
	// told to stop gets SIGKILL if it is still there.
	quitAt, killAt time.Time
	killed         bool

	// exec marks a worker that runs the user's command (exec mode).
	exec bool
	// execd is set once an exec worker has handed over to the command.
	execd bool
	// watchdog is set once an exec worker sent WATCHDOG=1: from then on
	// its silence for the worker timeout means hung, as under systemd.
	watchdog bool
	// notified is the last STATUS= an exec worker sent.
	notified string
	// notifiedStopping is set when an exec worker sent STOPPING=1.
	notifiedStopping bool

	// maxRequests and maxAge are this worker's recycling limits, jitter
	// included; 0 means none.
	maxRequests uint64
	maxAge      time.Duration
	// recycle names the limit w passed while its replacement starts.
	recycle string
	// version is the spread version the worker reported.
	version string
	// cpu measures the worker's CPU use for the status.
	cpu cpuMeter
}

// Why the supervisor ended a worker, as Exit.Reason shows it. An exit the
// supervisor did not ask for is "crashed", "exited" (code 0), "failed to
// start" or "died starting".
const (
	reasonReloaded     = "reloaded"
	reasonScaledDown   = "scaled down"
	reasonStopped      = "stopped"
	reasonHung         = "killed as hung"
	reasonStartTimeout = "start timeout"
)

// event is something that happened to a worker, delivered to the loop.
type event struct {
	w    *worker
	msg  message
	exit *os.ProcessState // set for the exit event, the worker's last
}

// spawn starts a worker for sl. The slot's socket, when the supervisor has
// one, is inherited; otherwise the worker binds and hands one back, or,
// when workers run as another user, the supervisor binds it first.
func (s *supervisor) spawn(sl *slot) (*worker, error) {
	if s.cfg.Credential != nil {
		if err := s.bindSlot(sl); err != nil {
			return nil, err
		}
	}
	parent, child, err := newChannel()
	if err != nil {
		return nil, err
	}
	defer child.Close()
	board := s.board.take()
	spec := workerSpec{
		Slot:            sl.index,
		Addr:            s.cfg.Addr,
		Inherit:         sl.socket != nil,
		Heartbeat:       s.cfg.heartbeat(),
		GracefulTimeout: s.cfg.GracefulTimeout,
		Board:           board,
		Socket:          s.cfg.Socket,
		Exec:            s.cfg.Exec,
		Workers:         len(s.slots),
	}
	if s.notes != nil {
		spec.NotifySocket = s.notes.name
	}
	if s.cfg.execMode() && s.cfg.WorkerTimeout > 0 {
		spec.Watchdog = s.cfg.WorkerTimeout
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.cfg.Command, s.cfg.Args...)
	cmd.Args[0] = s.cfg.workerName(sl.index) // see procname.go
	cmd.Env = append(workerEnviron(os.Environ(), len(s.slots)), workerEnv+"="+string(raw))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{child, s.board.file}
	if sl.socket != nil {
		f, err := sl.socket.file()
		if err != nil {
			parent.Close()
			s.board.release(board)
			return nil, err
		}
		// Only the child needs this duplicate; ours goes once it has
		// started (the kernel socket lives on in sl.socket).
		defer f.Close()
		cmd.ExtraFiles = append(cmd.ExtraFiles, f)
	}
	cmd.SysProcAttr = s.workerAttr()
	if err := cmd.Start(); err != nil {
		parent.Close()
		s.board.release(board)
		return nil, fmt.Errorf("start worker: %w", err)
	}
	w := &worker{
		slot:     sl,
		pid:      cmd.Process.Pid,
		cmd:      cmd,
		ch:       parent,
		board:    board,
		started:  s.now(),
		lastBeat: s.now(),
		exec:     s.cfg.execMode(),
	}
	s.setLimits(w)
	s.workers[w.pid] = w
	read := make(chan struct{})
	go s.readChannel(w, read)
	go func() {
		_ = cmd.Wait()
		// The channel reaches EOF when the process is gone; waiting for
		// the reader keeps a worker's last words before its exit event.
		<-read
		s.events <- event{w: w, exit: cmd.ProcessState}
	}()
	s.log.Info().Int("slot", sl.index).Int("pid", w.pid).Msg("worker started")
	return w, nil
}

// readChannel forwards w's messages to the loop until EOF.
func (s *supervisor) readChannel(w *worker, done chan<- struct{}) {
	defer close(done)
	buf, oob := make([]byte, maxMessage), make([]byte, oobSpace)
	for {
		m, err := receive(w.ch, buf, oob)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				s.log.Warn().Err(err).Int("pid", w.pid).Msg("worker channel")
			}
			return
		}
		s.events <- event{w: w, msg: m}
	}
}

// workerEnviron is the environment of a worker: the supervisor's, less any
// stale worker spec, plus GOMAXPROCS = max(1, CPUs/workers) unless the user
// set GOMAXPROCS, so N workers on N cores do not each run N Ps.
func workerEnviron(env []string, workers int) []string {
	out := make([]string, 0, len(env)+1)
	gomaxprocs := false
	for _, kv := range env {
		if strings.HasPrefix(kv, workerEnv+"=") {
			continue
		}
		if strings.HasPrefix(kv, "GOMAXPROCS=") {
			gomaxprocs = true
		}
		out = append(out, kv)
	}
	if !gomaxprocs {
		out = append(out, "GOMAXPROCS="+strconv.Itoa(max(1, runtime.NumCPU()/max(1, workers))))
	}
	return out
}

// signal sends sig to w, ignoring a process that is already gone.
func (w *worker) signal(sig syscall.Signal) {
	_ = w.cmd.Process.Signal(sig)
}

// alive reports whether w has not been reaped yet.
func (w *worker) alive() bool { return w.cmd.ProcessState == nil }

// exitDetail describes how a process ended: its code, and the signal that
// killed it if one did.
func exitDetail(st *os.ProcessState) (code int, sig string) {
	ws, ok := st.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return -1, unixSignalName(ws.Signal())
	}
	return st.ExitCode(), ""
}

func unixSignalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return "signal " + strconv.Itoa(int(sig))
}

// judgedByBeat reports whether w's silence means it is hung: w is online,
// not told to stop (a draining worker answers to its kill deadline, and an
// exec worker may stop pinging once it drains, as systemd allows), and it
// beats: a built-in worker always does, an exec worker once it sent
// WATCHDOG=1.
func (w *worker) judgedByBeat() bool {
	return w.online && w.reason == "" && !w.notifiedStopping && (!w.exec || w.watchdog)
}

// slotSocket is a slot's listening socket as the supervisor holds it: a
// bare descriptor that it never reads or polls.
type slotSocket struct{ fd int }

// file returns a duplicate for a child's ExtraFiles; the caller closes it.
func (k *slotSocket) file() (*os.File, error) {
	fd, err := unix.FcntlInt(uintptr(k.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup slot socket: %w", err)
	}
	return os.NewFile(uintptr(fd), "spread-listener"), nil
}

// queueLen is the length of the socket's accept queue: connections the
// kernel has completed that no worker has accepted yet.
func (k *slotSocket) queueLen() (int, error) {
	return reuseport.FDQueueLen(k.fd)
}

// close drops the supervisor's descriptor; nil is a no-op.
func (k *slotSocket) close() {
	if k != nil {
		unix.Close(k.fd)
	}
}
