package supervisor

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// pidfile is written once the server is ready and removed on exit.
//
// The path must be free, or hold a stale spread pidfile: a regular file
// holding one number whose process is gone or is not spread. Anything
// else is refused at start, so a mistyped --pidfile never overwrites (and
// then deletes on exit) a file of the user's, and two supervisors never
// fight over one file (and likely one port).
//
// The file is created in the pidfile's directory at start, empty and under
// a temporary name, so a directory that is missing or not writable fails
// the start rather than the ready step; once ready, the pid is written into
// it and it is renamed into place.
type pidfile struct {
	path string
	tmp  *os.File // nil once renamed into place
	// predecessor is the supervisor an upgrade replaces; its pid in the
	// file is no reason to refuse.
	predecessor int
}

// maxPIDFile bounds what a pidfile may hold: a pid and a newline.
const maxPIDFile = 32

// predecessor is the pid of the supervisor an upgrade replaces (0: none),
// whose pidfile this one takes over.
func openPIDFile(path string, predecessor int) (*pidfile, error) {
	if err := checkPIDFile(path, predecessor); err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".spread-pid-")
	if err != nil {
		return nil, fmt.Errorf("pidfile %s cannot be written: %w", path, bare(err))
	}
	return &pidfile{path: path, tmp: tmp, predecessor: predecessor}, nil
}

// checkPIDFile returns nil when path is free or holds a stale spread
// pidfile, and otherwise says what is in the way.
func checkPIDFile(path string, predecessor int) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("pidfile %s: %w", path, bare(err))
	}
	refuse := func(what string) error {
		return fmt.Errorf("pidfile %s %s, not a spread pidfile: refusing to replace it; remove it or pick another --pidfile", path, what)
	}
	if !fi.Mode().IsRegular() {
		return refuse("is a " + fileKind(fi.Mode()))
	}
	if fi.Size() > maxPIDFile {
		return refuse(fmt.Sprintf("holds %d bytes", fi.Size()))
	}
	// O_NOFOLLOW: the path must not have turned into a symlink since
	// Lstat; O_NONBLOCK: nor into a FIFO that would block the start.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("pidfile %s: %w", path, bare(err))
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxPIDFile+1))
	if err != nil {
		return fmt.Errorf("pidfile %s: %w", path, err)
	}
	pid, ok := parsePID(b)
	if !ok {
		return refuse("holds something other than a pid")
	}
	if pid != os.Getpid() && pid != predecessor && isSpread(pid) {
		return fmt.Errorf("pidfile %s names a running spread (pid %d); stop it first", path, pid)
	}
	return nil // stale: its process is gone, or is not spread
}

// bare drops the operation and path an *os.PathError adds, for messages
// that name the path themselves.
func bare(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}

// parsePID reads a pidfile's content: decimal digits and an optional
// trailing newline, a positive number.
func parsePID(b []byte) (int, bool) {
	s := strings.TrimSuffix(string(b), "\n")
	if s == "" || len(s) > 10 || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	pid, err := strconv.Atoi(s)
	return pid, err == nil && pid > 0
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
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

// ready writes the pid into the file created at start and renames it into
// place: a reader never sees it empty. Its error stops the server.
func (p *pidfile) ready(*supervisor) error {
	tmp := p.tmp
	p.tmp = nil
	_, werr := fmt.Fprintf(tmp, "%d\n", os.Getpid())
	cerr := tmp.Close()
	if werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("pidfile %s cannot be written: %w", p.path, errors.Join(werr, cerr))
	}
	_ = os.Chmod(tmp.Name(), 0o644)
	// Check again: something may have been put at the path since start.
	if err := checkPIDFile(p.path, p.predecessor); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), p.path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("pidfile %s cannot be written: %w", p.path, bare(err))
	}
	return nil
}

func (p *pidfile) workersChanged(*supervisor) {}
func (p *pidfile) stopping(*supervisor)       {}

// close removes the pidfile if it still holds this process's pid, and the
// temporary file if the server never became ready.
func (p *pidfile) close() {
	if p.tmp != nil {
		p.tmp.Close()
		os.Remove(p.tmp.Name())
		p.tmp = nil
		return
	}
	b, err := os.ReadFile(p.path)
	if err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
		os.Remove(p.path)
	}
}
