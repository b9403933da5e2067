package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// Processes are named in ps by their argv[0], as nginx's are ("nginx:
// worker process"): "spread: supervisor :8000" and "spread: worker 1
// :8000", followed by the arguments. Only argv[0] changes: the executable
// (and so /proc/<pid>/comm and /proc/<pid>/exe) stays the same. A command
// after -- keeps its own name once the worker has exec'd it.

// namePrefix marks a name given here; a process whose argv[0] has it was
// named already.
const namePrefix = ": "

// workerName is the argv[0] of slot's built-in worker.
func (c *Config) workerName(slot int) string {
	return fmt.Sprintf("%s%sworker %d %s", filepath.Base(c.Command), namePrefix, slot, c.Addr)
}

// NameSupervisor re-executes this process, once, with argv[0] "spread:
// supervisor ADDR" and the same arguments, environment and descriptors;
// the pid stays, so systemd's MAINPID, a pidfile or a parent's wait still
// name it. It returns nil without doing anything when the process was
// named already, and the exec error when the re-execution failed, in
// which case the process goes on under its old name. Call it before
// anything is opened that must not outlive the exec: Go marks the
// descriptors it opens close-on-exec, but a started goroutine is lost.
func NameSupervisor(addr string) error {
	if strings.Contains(os.Args[0], namePrefix) {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	name := filepath.Base(exe) + namePrefix + "supervisor " + addr
	return syscall.Exec(exe, append([]string{name}, os.Args[1:]...), os.Environ())
}
