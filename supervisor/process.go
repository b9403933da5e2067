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

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"

	"github.com/spreadhttp/spread/reuseport"
)

// worker is the supervisor's record of one worker process. It is owned by
// the supervisor loop.
type worker struct {
	slot    *slot
	pid     int
	proc    process
	board   int
	started time.Time
	// state is where the worker is in its life (workerstate.go).
	state workerState
	// onlineAt is when the worker came online; zero while it has not.
	onlineAt time.Time
	lastBeat time.Time
	// failure is the reason the worker gave for not starting, if any.
	failure string
	// reason says why the supervisor ended this worker (one of the
	// reason constants); empty while the supervisor wants it alive.
	reason string
	// killAt is when a draining or hung worker gets SIGKILL if it is
	// still there; zero when none is due.
	killAt time.Time

	// exec marks a worker that runs the user's command (exec mode).
	exec bool
	// execd is set once an exec worker has handed over to the command.
	execd bool
	// watchdog is set once an exec worker sent WATCHDOG=1: from then on
	// its silence for the worker timeout means hung, as under systemd.
	watchdog bool
	// notified is the last STATUS= an exec worker sent.
	notified string

	// maxRequests and maxAge are this worker's recycling limits, jitter
	// included; 0 means none.
	maxRequests uint64
	maxAge      time.Duration
	// recycle names the limit w passed while its replacement starts.
	recycle string
	// version is the spread version the worker reported.
	version string
	// end is how the process ended, once the loop learnt of its exit.
	end exitStatus
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
	exit *exitStatus // set for the exit event, the worker's last
}

// spawn starts a worker for sl through s.procs. The slot's socket, when
// the supervisor has one, is inherited; otherwise the worker binds and
// hands one back.
func (s *supervisor) spawn(sl *slot) (*worker, error) {
	if s.cfg.Credential != nil {
		if err := s.bindSlot(sl); err != nil {
			return nil, err
		}
	}
	board := s.board.take()
	spec := s.baseSpec(board)
	spec.Slot, spec.Inherit, spec.Exec = sl.index, sl.socket != nil, s.cfg.Exec
	if s.notes != nil {
		spec.NotifySocket = s.notes.name
	}
	if s.cfg.execMode() && s.cfg.WorkerTimeout > 0 {
		spec.Watchdog = s.cfg.WorkerTimeout
	}
	var socket *os.File
	if sl.socket != nil {
		f, err := sl.socket.file()
		if err != nil {
			s.board.release(board)
			return nil, err
		}
		// Only the child needs this duplicate; ours goes once it has
		// started (the kernel socket lives on in sl.socket).
		defer f.Close()
		socket = f
	}
	w := &worker{slot: sl, board: board, exec: s.cfg.execMode()}
	// The loop learns of w's messages and exit as events; nothing of w
	// is read outside the loop.
	p, err := s.procs.start(spec, socket,
		func(m message) { s.events <- event{w: w, msg: m} },
		func(e exitStatus) { s.events <- event{w: w, exit: &e} })
	if err != nil {
		s.board.release(board)
		return nil, err
	}
	w.proc, w.pid = p, p.pid()
	w.started, w.lastBeat = s.now(), s.now()
	s.setLimits(w)
	s.workers[w.pid] = w
	s.log.Info().Int("slot", sl.index).Int("pid", w.pid).Msg("worker started")
	return w, nil
}

// baseSpec is what every worker is told at exec, a spare included, with
// board its scoreboard entry; spawn adds the slot.
func (s *supervisor) baseSpec(board int) workerSpec {
	return workerSpec{
		Addr:            s.cfg.Addr,
		Heartbeat:       s.cfg.heartbeat(),
		GracefulTimeout: s.cfg.GracefulTimeout,
		Board:           board,
		Socket:          s.cfg.Socket,
		Workers:         len(s.slots),
		// A command of the user's is not ours to tune.
		QuietSysmon: s.cfg.QuietSysmon && len(s.cfg.Exec) == 0,
	}
}

// process is a started worker process as the loop sees it, tableflip's
// process seam: osProcess is the real one, and package tests play workers
// with a fake.
type process interface {
	// pid is the process's id, the worker's key in the loop.
	pid() int
	// signal sends sig, ignoring a process that is already gone.
	signal(sig syscall.Signal)
	// send sends the process a message on its channel, with f attached
	// when it is not nil (a spare's slot socket).
	send(word, arg string, f *os.File) error
}

// processStarter starts worker processes: the loop's seam to the OS.
type processStarter interface {
	// start starts a worker process told spec, handing it socket, the
	// slot's listening socket, unless that is nil (the worker then binds
	// one). The process's messages go to deliver, in order, and its end
	// to exited, once, after the last message; both may be called from
	// any goroutine, and exited is never called when start fails.
	start(spec workerSpec, socket *os.File, deliver func(message), exited func(exitStatus)) (process, error)
}

// osStarter starts workers as child processes of Config.Command (spread's
// own binary by default): the built-in worker (ServeWorker), or in exec
// mode the worker that becomes the user's command (ExecWorker). Both get
// the channel as fd 3, the scoreboard as fd 4 and the slot's socket, when
// there is one, as fd 5, and the spec in their environment.
type osStarter struct {
	command string
	args    []string
	board   *os.File // the scoreboard's memfd
	log     zerolog.Logger
	// name is a worker's argv[0], as ps shows it (see procname.go).
	name func(spec workerSpec) string
	// credential, when set, is the user workers run as (privdrop.go).
	credential *syscall.Credential
}

// osProcess is a worker started by osStarter, and the supervisor's end of
// its channel.
type osProcess struct {
	cmd *exec.Cmd
	ch  *net.UnixConn
}

func (p osProcess) pid() int { return p.cmd.Process.Pid }

func (p osProcess) signal(sig syscall.Signal) { _ = p.cmd.Process.Signal(sig) }

func (p osProcess) send(word, arg string, f *os.File) error { return send(p.ch, word, arg, f) }

func (o *osStarter) start(spec workerSpec, socket *os.File, deliver func(message), exited func(exitStatus)) (process, error) {
	raw, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	parent, child, err := newChannel()
	if err != nil {
		return nil, err
	}
	defer child.Close()
	cmd := exec.Command(o.command, o.args...)
	cmd.Args[0] = o.name(spec) // see procname.go
	cmd.Env = append(workerEnviron(os.Environ(), spec), workerEnv+"="+string(raw))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{child, o.board}
	if socket != nil {
		cmd.ExtraFiles = append(cmd.ExtraFiles, socket)
	}
	cmd.SysProcAttr = workerAttr(o.credential)
	if err := cmd.Start(); err != nil {
		parent.Close()
		return nil, fmt.Errorf("start worker: %w", err)
	}
	read := make(chan struct{})
	go o.readChannel(parent, cmd.Process.Pid, deliver, read)
	go func() {
		awaitExit(cmd.Process.Pid) // see exitwait.go
		_ = cmd.Wait()
		// The channel reaches EOF when the process is gone; waiting for
		// the reader keeps a worker's last words before its exit event.
		<-read
		parent.Close()
		exited(exitDetail(cmd.ProcessState))
	}()
	return osProcess{cmd, parent}, nil
}

// readChannel forwards the messages of worker pid to deliver until EOF.
func (o *osStarter) readChannel(ch *net.UnixConn, pid int, deliver func(message), done chan<- struct{}) {
	defer close(done)
	buf, oob := make([]byte, maxMessage), make([]byte, oobSpace)
	for {
		m, err := receive(ch, buf, oob)
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				o.log.Warn().Err(err).Int("pid", pid).Msg("worker channel")
			}
			return
		}
		deliver(m)
	}
}

// workerEnviron is the environment of a worker told spec: the
// supervisor's, less any stale worker spec, plus GOMAXPROCS = max(1,
// CPUs/workers) unless the user set GOMAXPROCS, so N workers on N cores do
// not each run N Ps, plus the quiet sysmon's GODEBUG setting when
// spec.QuietSysmon asks for it.
func workerEnviron(env []string, spec workerSpec) []string {
	out := make([]string, 0, len(env)+2)
	gomaxprocs, godebug := false, -1
	for _, kv := range env {
		switch {
		case strings.HasPrefix(kv, workerEnv+"="):
			continue
		case strings.HasPrefix(kv, "GOMAXPROCS="):
			gomaxprocs = true
		case strings.HasPrefix(kv, "GODEBUG="):
			godebug = len(out)
		}
		out = append(out, kv)
	}
	if !gomaxprocs {
		out = append(out, "GOMAXPROCS="+strconv.Itoa(max(1, runtime.NumCPU()/max(1, spec.Workers))))
	}
	if spec.QuietSysmon {
		out = withQuietSysmon(out, godebug)
	}
	return out
}

// quietSysmon is the GODEBUG setting behind Config.QuietSysmon. The Go
// runtime's sysmon skips its deep sleep while schedtrace is set; the trace
// itself prints when the monotonic clock passes a multiple of its period,
// and 2147483647 ms, the largest it takes, is 24.8 days.
const quietSysmon = "schedtrace=2147483647"

// withQuietSysmon adds quietSysmon to the GODEBUG of env, the variable at
// index at (-1: none), unless the user already set schedtrace there.
func withQuietSysmon(env []string, at int) []string {
	if at < 0 {
		return append(env, "GODEBUG="+quietSysmon)
	}
	v := strings.TrimPrefix(env[at], "GODEBUG=")
	for _, kv := range strings.Split(v, ",") {
		if strings.HasPrefix(strings.TrimSpace(kv), "schedtrace=") {
			return env
		}
	}
	if v != "" {
		v += ","
	}
	env[at] = "GODEBUG=" + v + quietSysmon
	return env
}

// signal sends sig to w, ignoring a process that is already gone.
func (w *worker) signal(sig syscall.Signal) { w.proc.signal(sig) }

// exitStatus is how a process ended: its exit code, or -1 and the name of
// the signal that killed it.
type exitStatus struct {
	code   int
	signal string
}

// exitDetail describes how a process ended.
func exitDetail(st *os.ProcessState) exitStatus {
	ws, ok := st.Sys().(syscall.WaitStatus)
	if ok && ws.Signaled() {
		return exitStatus{-1, unixSignalName(ws.Signal())}
	}
	return exitStatus{st.ExitCode(), ""}
}

func unixSignalName(sig syscall.Signal) string {
	if n := unix.SignalName(sig); n != "" {
		return n
	}
	return "signal " + strconv.Itoa(int(sig))
}

// judgedByBeat reports whether w's silence means it is hung: w is online
// (a draining worker answers to its kill deadline, and an exec worker may
// stop pinging once it drains, as systemd allows), and it beats: a
// built-in worker always does, an exec worker once it sent WATCHDOG=1.
func (w *worker) judgedByBeat() bool {
	return w.state == stateOnline && (!w.exec || w.watchdog)
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
