package supervisor

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/spreadhttp/spread/reuseport"
)

// This file is the child's side of exec mode: a process the supervisor
// started as a worker gets or binds its slot's socket, exactly as a
// built-in worker does, and then replaces itself with the user's command.
// The pid does not change, so the supervisor's signals, its reaping and
// its readiness bookkeeping all still name the right process.

// activationFD is where the systemd socket-activation protocol puts the
// first passed socket (SD_LISTEN_FDS_START).
const activationFD = 3

// ExecWorker turns this worker process into the user's command: it obtains
// the slot's listener, hands a new one to the supervisor, lays it out as fd
// 3 with LISTEN_FDS=1, LISTEN_PID and LISTEN_FDNAMES=http, and execve's the
// command. It returns only on failure, after telling the supervisor why.
func ExecWorker() error {
	supervisorPid := os.Getppid()
	spec, err := readSpec()
	if err != nil {
		return err
	}
	if len(spec.Exec) == 0 {
		return errors.New("worker spec names no command to run")
	}
	// The channel is used through a close-on-exec duplicate, and fd 3
	// stays a bare descriptor: no *os.File owns it whose finalizer could
	// close it once the listener is there, and until then it still tells
	// main that this process is a worker (CheckWorker).
	dup, err := unix.FcntlInt(channelFD, unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("channel: %w", err)
	}
	dupFile := os.NewFile(uintptr(dup), "spread-channel")
	ch, err := fileConn(dupFile)
	dupFile.Close()
	if err != nil {
		return err
	}
	defer ch.Close()
	fail := func(err error) error {
		_ = send(ch, msgFail, err.Error(), nil)
		return err
	}
	_ = send(ch, msgVersion, Version(), nil)
	path, err := exec.LookPath(spec.Exec[0])
	if err != nil {
		return fail(fmt.Errorf("command %q: %w", spec.Exec[0], unwrapExecError(err)))
	}
	fd, err := execListener(ch, spec)
	if err != nil {
		return fail(err)
	}
	if err := unix.Dup3(fd, activationFD, 0); err != nil {
		return fail(fmt.Errorf("move listener to fd 3: %w", err))
	}
	if fd != activationFD {
		unix.Close(fd)
	}
	// systemd passes sockets in blocking mode, and programs that wrap fd 3
	// directly (Python's socket.socket(fileno=3)) expect it. The flag
	// belongs to the shared open file description, which the supervisor
	// never reads and Go listeners set back for themselves.
	if err := unix.SetNonblock(activationFD, false); err != nil {
		return fail(fmt.Errorf("listener blocking mode: %w", err))
	}
	if err := closeOnExecAbove(activationFD); err != nil {
		return fail(err)
	}
	env := execEnviron(os.Environ(), spec, os.Getpid())
	if err := send(ch, msgExec, path, nil); err != nil {
		return err
	}
	// Go's handlers are reset by execve, but a signal this process ignores
	// would stay ignored in the command.
	signal.Reset()
	if err := dieWithSupervisor(supervisorPid); err != nil {
		return fail(err)
	}
	err = syscall.Exec(path, spec.Exec, env)
	return fail(fmt.Errorf("exec %s: %w", path, err))
}

// dieWithSupervisor makes the kernel SIGKILL this process, and so the
// command it becomes, when the supervisor dies: a command cannot watch
// spread's channel for EOF as a built-in worker does. A stopped, wedged or
// stop-ignoring command would otherwise outlive its supervisor and keep
// the port; a supervisor that dies uncontrolled has cut its workers'
// requests in flight anyway.
//
// The parent-death signal belongs to a thread and is not inherited by
// the threads Go starts, while execve keeps the signal of the thread that
// calls it. So it is set here, on the thread that is about to exec (locked
// to it for good), not by the supervisor at fork.
func dieWithSupervisor(supervisorPid int) error {
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(unix.SIGKILL), 0, 0, 0); err != nil {
		return fmt.Errorf("parent-death signal: %w", err)
	}
	// The supervisor may have died before the signal was armed.
	if os.Getppid() != supervisorPid {
		return errors.New("supervisor gone before the command started")
	}
	return nil
}

// unwrapExecError drops exec.Error's repetition of the command name.
func unwrapExecError(err error) error {
	var e *exec.Error
	if errors.As(err, &e) {
		return e.Err
	}
	return err
}

// execListener returns the slot's listening socket as a bare descriptor.
// A worker of a slot without a socket binds one and sends a duplicate to
// the supervisor first, so the slot's queue outlives this process.
func execListener(ch *net.UnixConn, spec workerSpec) (int, error) {
	if spec.Inherit {
		return listenerFD, nil
	}
	ln, err := reuseport.ListenWith(context.Background(), spec.Addr, spec.Socket)
	if err != nil {
		return -1, err
	}
	defer ln.Close()
	f, err := reuseport.File(ln)
	if err != nil {
		return -1, err
	}
	defer f.Close()
	if err := send(ch, msgSocket, "", f); err != nil {
		return -1, fmt.Errorf("hand socket to supervisor: %w", err)
	}
	// A bare duplicate that f's finalizer cannot close.
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		return -1, fmt.Errorf("dup listener: %w", err)
	}
	return fd, nil
}

// closeOnExecAbove marks every descriptor above n close-on-exec, so that
// nothing of spread's (the channel, the scoreboard, a stray inherited
// descriptor) reaches the command.
func closeOnExecAbove(n int) error {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return fmt.Errorf("list descriptors: %w", err)
	}
	for _, e := range entries {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= n {
			continue
		}
		// The directory's own descriptor is closed by now: EBADF is fine.
		if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err != nil && !errors.Is(err, unix.EBADF) {
			return fmt.Errorf("close-on-exec fd %d: %w", fd, err)
		}
	}
	return nil
}

// execEnviron is the command's environment: the worker's, less spread's
// own spec and any socket-activation or notify variables meant for spread
// itself, plus the socket-activation protocol for fd 3 and spread's notify
// socket.
func execEnviron(env []string, spec workerSpec, pid int) []string {
	out := withoutVars(env, workerEnv, "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
		"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "SPREAD_SLOT", "SPREAD_WORKERS")
	p := strconv.Itoa(pid)
	out = append(out, "LISTEN_FDS=1", "LISTEN_PID="+p, "LISTEN_FDNAMES=http",
		"SPREAD_SLOT="+strconv.Itoa(spec.Slot), "SPREAD_WORKERS="+strconv.Itoa(spec.Workers))
	if spec.NotifySocket != "" {
		out = append(out, "NOTIFY_SOCKET="+spec.NotifySocket)
	}
	if spec.Watchdog > 0 {
		out = append(out, "WATCHDOG_USEC="+strconv.FormatInt(spec.Watchdog.Microseconds(), 10), "WATCHDOG_PID="+p)
	}
	return out
}
