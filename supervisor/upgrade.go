package supervisor

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// An upgrade replaces the supervisor itself with the binary now on disk,
// without closing a listening socket:
//
//  1. The old supervisor starts the new binary, with the same arguments,
//     as a child, and hands it every slot's socket, the control socket's
//     listener and the metrics listener (ExtraFiles, described by
//     SPREAD_INTERNAL_UPGRADE), plus the write end of a pipe.
//  2. The new supervisor takes the sockets as its slots' (no bind: the
//     kernel queues stay the same), serves the control socket on the same
//     listener, starts a full generation of workers on the sockets and,
//     once every one is online, writes "ready" to the pipe.
//  3. Only then does the old one hand over: it tells systemd the new
//     MAINPID, stops serving the control socket (without unlinking it),
//     and drains its own workers as on SIGTERM, then exits. Old and new
//     workers accept from the same queues meanwhile, so nothing queued is
//     lost and nothing is reset.
//
// If the new supervisor exits, or is not ready within the start
// timeout, the old one kills it and goes on as if nothing happened; the
// caller of spread upgrade gets the reason.
//
// Why new workers rather than adopting the old ones: a process can wait
// only for its own children, the old workers' channels and scoreboard
// belong to the old supervisor, and the old binary's workers are exactly
// what an upgrade is meant to replace. The price is a moment with twice
// the workers, as during any reload step.

// upgradeEnv tells a supervisor that it is the new one of an upgrade; its
// value is the JSON of upgradeSpec.
const upgradeEnv = "SPREAD_INTERNAL_UPGRADE"

// upgradeSpec describes what the old supervisor hands over.
type upgradeSpec struct {
	OldPid int `json:"old_pid"`
	Ready  int `json:"ready_fd"`
	// Alive reaches EOF when the old supervisor is gone: a successor
	// whose predecessor dies before the handover gives up, rather than
	// serve on with nobody to hand over from.
	Alive   int           `json:"alive_fd"`
	Control int           `json:"control_fd"` // -1: none
	Metrics int           `json:"metrics_fd"` // -1: none
	Slots   []upgradeSlot `json:"slots"`
	// Steer holds the steering program's and maps' descriptors (see
	// reuseport.Steering.Files), empty when steering is off: a socket can
	// be in one socket map only, so the new supervisor shares the old one's.
	Steer         []int `json:"steer,omitempty"`
	SteerMigrates bool  `json:"steer_migrates,omitempty"`
}

type upgradeSlot struct {
	Index int `json:"index"`
	FD    int `json:"fd"`
}

// UpgradeResult is the outcome of an upgrade.
type UpgradeResult struct {
	// Pid is the new supervisor's, when it took over.
	Pid int `json:"pid,omitempty"`
	// Error says why the old supervisor goes on; empty on success.
	Error string `json:"error,omitempty"`
}

// upgradeState is an upgrade in progress, on the old supervisor's side.
type upgradeState struct {
	cmd      *exec.Cmd
	alive    *os.File // our end of the successor's Alive pipe
	deadline time.Time
	waiters  []chan<- UpgradeResult
	done     bool
}

// startUpgrade starts the new supervisor; reply gets the outcome.
func (s *supervisor) startUpgrade(reply chan<- UpgradeResult) {
	fail := func(msg string) { reply <- UpgradeResult{Error: msg} }
	switch {
	case s.stopping:
		fail("the server is stopping")
		return
	case s.upgrade != nil:
		s.upgrade.waiters = append(s.upgrade.waiters, reply)
		return
	case s.reload != nil || s.recycling != nil:
		fail("a reload or recycle is running; upgrade once it has ended")
		return
	}
	cmd, err := s.spawnSuccessor()
	if err != nil {
		s.log.Error().Err(err).Msg("upgrade failed: the old supervisor keeps running")
		fail(err.Error())
		return
	}
	s.upgrade = &upgradeState{cmd: cmd, deadline: s.now().Add(s.cfg.StartTimeout), waiters: []chan<- UpgradeResult{reply}}
	s.log.Info().Int("new_pid", cmd.Process.Pid).Str("command", s.cfg.Command).Msg("upgrade started")
}

// spawnSuccessor starts the new supervisor with the sockets, and watches
// its pipe and its exit.
func (s *supervisor) spawnSuccessor() (*exec.Cmd, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	defer w.Close()
	ar, aw, err := os.Pipe()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("upgrade: %w", err)
	}
	defer ar.Close()
	files := []*os.File{w, ar}
	spec := upgradeSpec{OldPid: os.Getpid(), Ready: 3, Alive: 4, Control: -1, Metrics: -1}
	add := func(f *os.File) int {
		files = append(files, f)
		return 2 + len(files)
	}
	defer func() {
		for _, f := range files[2:] {
			f.Close()
		}
	}()
	for _, h := range s.hooks {
		if c, ok := h.(*control); ok {
			if f := c.listenerFile(); f != nil {
				spec.Control = add(f)
			}
			if f := c.metricsFile(); f != nil {
				spec.Metrics = add(f)
			}
		}
	}
	if s.steer != nil {
		fs, err := s.steer.Files()
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("upgrade: %w", err)
		}
		for _, f := range fs {
			spec.Steer = append(spec.Steer, add(f))
		}
		spec.SteerMigrates = s.steer.Migrates()
	}
	for _, sl := range s.slots {
		if sl.scaledDown || sl.socket == nil {
			continue
		}
		f, err := sl.socket.file()
		if err != nil {
			r.Close()
			return nil, fmt.Errorf("upgrade: %w", err)
		}
		spec.Slots = append(spec.Slots, upgradeSlot{Index: sl.index, FD: add(f)})
	}
	raw, err := json.Marshal(spec)
	if err != nil {
		r.Close()
		return nil, err
	}
	cmd := exec.Command(s.cfg.Command, s.cfg.Args...)
	cmd.Env = append(withoutVars(os.Environ(), upgradeEnv), upgradeEnv+"="+string(raw))
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.ExtraFiles = files
	if err := cmd.Start(); err != nil {
		r.Close()
		aw.Close()
		return nil, fmt.Errorf("upgrade: start %s: %w", s.cfg.Command, err)
	}
	// aw stays open for the life of this process: the successor sees EOF
	// when it is gone.
	if s.upgradeAlive != nil {
		s.upgradeAlive.Close()
	}
	s.upgradeAlive = aw
	pid := cmd.Process.Pid
	go func() {
		defer r.Close()
		sc := bufio.NewScanner(r)
		if sc.Scan() && sc.Text() == "ready" {
			s.call(func() { s.upgradeReady(pid) })
		}
	}()
	go func() {
		awaitExit(pid) // no thread blocked in waitid; see exitwait.go
		err := cmd.Wait()
		s.call(func() { s.upgradeExited(pid, err) })
	}()
	return cmd, nil
}

// upgradeReady hands over to the new supervisor, now serving.
func (s *supervisor) upgradeReady(pid int) {
	u := s.upgrade
	if u == nil || u.done || u.cmd.Process.Pid != pid {
		return
	}
	u.done = true
	s.handedOver = true
	s.retireSpare()
	s.log.Info().Int("new_pid", pid).Msg("upgrade: the new supervisor is serving; draining the old workers")
	// Stop serving the control socket before answering spread upgrade, so
	// that whatever the caller asks next is answered by the new one.
	for _, h := range s.hooks {
		if t, ok := h.(interface{ handOver(pid int) }); ok {
			t.handOver(pid)
		}
	}
	s.finishUpgrade(UpgradeResult{Pid: pid})
	s.stop("upgrade", false)
}

// upgradeExited is called when the new supervisor's process ends.
func (s *supervisor) upgradeExited(pid int, err error) {
	u := s.upgrade
	if u == nil || u.cmd.Process.Pid != pid || u.done {
		return
	}
	why := "the new supervisor exited before it was ready"
	if err != nil {
		why += " (" + err.Error() + ")"
	}
	s.upgradeFailed(why)
}

// checkUpgrade kills a new supervisor that is not ready in time.
func (s *supervisor) checkUpgrade(now time.Time) {
	u := s.upgrade
	if u == nil || u.done || now.Before(u.deadline) {
		return
	}
	_ = u.cmd.Process.Signal(syscall.SIGKILL)
	s.upgradeFailed(fmt.Sprintf("the new supervisor was not ready within --start-timeout (%s)", s.cfg.StartTimeout))
}

func (s *supervisor) upgradeFailed(why string) {
	s.log.Error().Str("reason", why).Msg("upgrade failed: the old supervisor keeps running")
	s.finishUpgrade(UpgradeResult{Error: why})
}

func (s *supervisor) finishUpgrade(res UpgradeResult) {
	u := s.upgrade
	for _, w := range u.waiters {
		w <- res
	}
	if res.Error != "" {
		s.upgrade = nil
	}
	u.waiters = nil
}

// inheritedSpec reads the handover of an upgrade; nil when this process is
// not the new supervisor of one.
func inheritedSpec() (*upgradeSpec, error) {
	raw, ok := os.LookupEnv(upgradeEnv)
	if !ok {
		return nil, nil
	}
	os.Unsetenv(upgradeEnv) // not for the workers
	var spec upgradeSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		return nil, fmt.Errorf("%s: %w", upgradeEnv, err)
	}
	for _, fd := range append(append([]int{spec.Ready, spec.Alive, spec.Control, spec.Metrics}, slotFDs(spec.Slots)...), spec.Steer...) {
		if fd >= 0 {
			unix.CloseOnExec(fd)
		}
	}
	return &spec, nil
}

func slotFDs(slots []upgradeSlot) []int {
	out := make([]int, len(slots))
	for i, sl := range slots {
		out[i] = sl.FD
	}
	return out
}

// watchPredecessor fails the start of a successor whose predecessor dies
// before the handover.
func (s *supervisor) watchPredecessor() {
	if s.inherited == nil || s.inherited.Alive < 0 {
		return
	}
	f := os.NewFile(uintptr(s.inherited.Alive), "spread-upgrade-alive")
	go func() {
		defer f.Close()
		_, _ = io.Copy(io.Discard, f)
		s.call(func() {
			if s.inherited.Ready >= 0 {
				s.fail(errors.New("upgrade: the old supervisor died before the handover"))
			}
		})
	}()
}

// tellPredecessor writes "ready" to the old supervisor once this one
// serves with every worker online.
func (s *supervisor) tellPredecessor() {
	if s.inherited == nil || s.inherited.Ready < 0 {
		return
	}
	f := os.NewFile(uintptr(s.inherited.Ready), "spread-upgrade-ready")
	if _, err := f.WriteString("ready\n"); err != nil {
		s.log.Error().Err(err).Msg("upgrade: cannot tell the old supervisor")
	}
	f.Close()
	s.inherited.Ready = -1
	s.log.Info().Int("old_pid", s.inherited.OldPid).Msg("upgrade: took over from the old supervisor")
}

// inheritedListener returns the listener at fd, handed over by the old
// supervisor, or nil for -1.
func inheritedListener(fd int, name string) (net.Listener, error) {
	if fd < 0 {
		return nil, nil
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("upgrade: inherited %s: %w", name, err)
	}
	return ln, nil
}

// withoutVars returns a copy of env without the variables named.
func withoutVars(env []string, names ...string) []string {
	out := make([]string, 0, len(env)+8)
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, name) {
			out = append(out, kv)
		}
	}
	return out
}

// errUpgradeUnsupported is returned by a client whose server predates
// upgrades.
var errUpgradeUnsupported = errors.New("the running spread cannot upgrade itself (too old); stop and start it")
