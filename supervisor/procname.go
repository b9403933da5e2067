package supervisor

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"unsafe"
)

// Processes are named in ps by their argv[0], as nginx's are ("nginx:
// worker process"): "spread: supervisor :8000" and "spread: worker 1
// :8000", followed by the arguments. Only argv[0] changes: the executable
// (and so /proc/<pid>/comm and /proc/<pid>/exe) stays the same. A command
// after -- keeps its own name once the worker has exec'd it.

// namePrefix marks a name given here; a process whose argv[0] has it was
// named already.
const namePrefix = ": "

// workerName is the argv[0] of a built-in worker: "spread: worker 1
// :8000", or "spread: worker (spare) :8000" for a spare, which has no slot
// yet; it renames itself when it takes one (renameSpare).
func (c *Config) workerName(spec workerSpec) string {
	if spec.Spare {
		return fmt.Sprintf("%s%sworker %s %s", filepath.Base(c.Command), namePrefix, spareMark, c.Addr)
	}
	return fmt.Sprintf("%s%sworker %d %s", filepath.Base(c.Command), namePrefix, spec.Slot, c.Addr)
}

// spareMark stands for the slot number in a spare's name. It is longer
// than any slot number, so the name with the number fits where it was.
const spareMark = "(spare)"

// renameSpare turns this spare's name in ps into that of slot's worker.
// Only the process itself can change its command line, and only by
// writing over the memory the kernel put argv in, as nginx's
// setproctitle does: os.Args[0] is that memory (Go does not copy it), and
// the new name is shorter, padded with NULs, which ps shows as spaces.
func renameSpare(slot int) {
	old := os.Args[0]
	if !strings.Contains(old, namePrefix+"worker "+spareMark) {
		return
	}
	name := strings.Replace(old, spareMark, strconv.Itoa(slot), 1)
	b := unsafe.Slice(unsafe.StringData(old), len(old))
	clear(b[copy(b, name):])
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
