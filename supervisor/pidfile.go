package supervisor

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// pidfile is written once the server is ready and removed on exit. A
// pidfile that names a live spread process is refused at start: two
// supervisors must not fight over one file (and likely one port). A stale
// one, left by a spread that was killed, is replaced.
type pidfile struct{ path string }

// predecessor is the pid of the supervisor an upgrade replaces (0: none),
// whose pidfile this one takes over.
func openPIDFile(path string, predecessor int) (*pidfile, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid != os.Getpid() && pid != predecessor && isSpread(pid) {
			return nil, fmt.Errorf("pidfile %s names a running spread (pid %d); stop it first", path, pid)
		}
	}
	return &pidfile{path: path}, nil
}

// isSpread reports whether pid is a live process running the same program
// as this one.
func isSpread(pid int) bool {
	comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return false
	}
	self, _ := os.ReadFile("/proc/self/comm")
	return bytes.Equal(bytes.TrimSpace(comm), bytes.TrimSpace(self))
}

func (p *pidfile) ready(*supervisor) error {
	tmp, err := os.CreateTemp(filepath.Dir(p.path), ".spread-pid-")
	if err != nil {
		return fmt.Errorf("pidfile: %w", err)
	}
	_, werr := fmt.Fprintf(tmp, "%d\n", os.Getpid())
	cerr := tmp.Close()
	if werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("pidfile: write %s failed", tmp.Name())
	}
	_ = os.Chmod(tmp.Name(), 0o644)
	// Rename makes the file appear whole: a reader never sees it empty.
	if err := os.Rename(tmp.Name(), p.path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("pidfile: %w", err)
	}
	return nil
}

func (p *pidfile) changed(*supervisor)  {}
func (p *pidfile) stopping(*supervisor) {}

func (p *pidfile) close() {
	b, err := os.ReadFile(p.path)
	if err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
		os.Remove(p.path)
	}
}
