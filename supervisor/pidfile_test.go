package supervisor

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParsePIDTakesDigitsAndOneNewlineOnly(t *testing.T) {
	cases := []struct {
		in   string
		pid  int
		want bool
	}{
		{"123", 123, true},
		{"123\n", 123, true},
		{"1", 1, true},
		{"1234567890", 1234567890, true}, // ten digits: the most a pid file may hold
		{"", 0, false},
		{"\n", 0, false},
		{"0", 0, false},
		{"000", 0, false},
		{"12345678901", 0, false}, // eleven digits
		{"-5", 0, false},
		{"+5", 0, false},
		{" 5", 0, false},
		{"5 ", 0, false},
		{"12a", 0, false},
		{"123\n\n", 0, false},
	}
	for _, c := range cases {
		pid, ok := parsePID([]byte(c.in))
		if ok != c.want || (ok && pid != c.pid) {
			t.Errorf("parsePID(%q) = %d, %v; want %d, %v", c.in, pid, ok, c.pid, c.want)
		}
	}
}

func TestFileKindNamesWhatIsInTheWay(t *testing.T) {
	cases := map[fs.FileMode]string{
		fs.ModeSymlink:                    "symlink",
		fs.ModeDir | 0o755:                "directory",
		fs.ModeNamedPipe:                  "FIFO",
		fs.ModeSocket:                     "socket",
		fs.ModeDevice:                     "device",
		fs.ModeDevice | fs.ModeCharDevice: "device",
		fs.ModeIrregular:                  "special file",
	}
	for m, want := range cases {
		if got := fileKind(m); got != want {
			t.Errorf("fileKind(%v) = %q, want %q", m, got, want)
		}
	}
}

func TestBareDropsThePathErrorsPrefix(t *testing.T) {
	_, err := os.Open(filepath.Join(t.TempDir(), "missing"))
	if got := bare(err); got != syscall.ENOENT {
		t.Errorf("bare(%v) = %v, want ENOENT alone", err, got)
	}
	plain := errors.New("plain")
	if got := bare(plain); got != plain {
		t.Errorf("bare(plain) = %v, want it unchanged", got)
	}
}

// writePIDFile puts content at dir/spread.pid and returns the path.
func writePIDFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "spread.pid")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// otherThreadID returns the id of a thread of this process other than the
// main one. /proc/<tid>/comm of a thread is the process's name, so to
// isSpread it is a live process running this program: a stand-in for a
// second spread with no process started.
//
// A locked goroutine may land on the main thread; it then keeps that
// thread until the end of the test, so the next one gets another.
func otherThreadID(t *testing.T) int {
	t.Helper()
	tids := make(chan int)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	for range 2 {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tids <- unix.Gettid()
			<-release
		}()
		if tid := <-tids; tid != os.Getpid() {
			return tid
		}
	}
	t.Fatal("two locked goroutines both ran on the main thread")
	return 0
}

// notAPid is above any pid_max (at most 2^22), yet a well-formed pid.
const notAPid = 2147483647

func TestCheckPIDFileRefusesAnythingButAStaleSpreadPIDFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(writePIDFile(t, "1\n"), link); err != nil {
		t.Fatal(err)
	}
	live := otherThreadID(t)
	cases := []struct {
		name        string
		path        string
		predecessor int
		want        string // "" for no error
	}{
		{"missing", filepath.Join(dir, "none.pid"), 0, ""},
		{"stale pid", writePIDFile(t, strconv.Itoa(notAPid)+"\n"), 0, ""},
		{"own pid", writePIDFile(t, strconv.Itoa(os.Getpid())), 0, ""},
		{"predecessor's pid", writePIDFile(t, strconv.Itoa(live)), live, ""},
		{"32 bytes", writePIDFile(t, strings.Repeat("1", 32)), 0, "holds something other than a pid"},
		{"33 bytes", writePIDFile(t, strings.Repeat("1", 33)), 0, "holds 33 bytes"},
		{"text", writePIDFile(t, "hello\n"), 0, "holds something other than a pid"},
		{"empty", writePIDFile(t, ""), 0, "holds something other than a pid"},
		{"directory", dir, 0, "is a directory"},
		{"symlink", link, 0, "is a symlink"},
		{"FIFO", fifo, 0, "is a FIFO"},
		{"running spread", writePIDFile(t, strconv.Itoa(live)+"\n"), 0, "names a running spread (pid " + strconv.Itoa(live) + "); stop it first"},
		{"running spread, another predecessor", writePIDFile(t, strconv.Itoa(live)), live + 1, "names a running spread"},
	}
	for _, c := range cases {
		err := checkPIDFile(c.path, c.predecessor)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v, want no error", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error saying %q", c.name, err, c.want)
		case c.want != "" && !strings.HasPrefix(err.Error(), "pidfile "+c.path+" "):
			t.Errorf("%s: %q does not start by naming the pidfile", c.name, err)
		}
	}
}

func TestCheckPIDFileSaysWhyItCannotLook(t *testing.T) {
	// A path under a regular file cannot be looked at: ENOTDIR, not "free".
	p := filepath.Join(writePIDFile(t, "1"), "spread.pid")
	err := checkPIDFile(p, 0)
	if err == nil || !errors.Is(err, syscall.ENOTDIR) || strings.Count(err.Error(), p) != 1 {
		t.Fatalf("checkPIDFile under a file: %v; want ENOTDIR naming the path once", err)
	}
}

func TestIsSpreadIsTrueOnlyForALiveProcessOfThisProgram(t *testing.T) {
	if !isSpread(otherThreadID(t)) {
		t.Error("a live process of this program is not spread")
	}
	if isSpread(notAPid) {
		t.Error("a pid with no process is spread")
	}
	if isSpread(1) && !strings.Contains(os.Args[0], "init") {
		t.Error("pid 1, another program, is spread")
	}
}

func TestPIDFileIsWrittenWhenReadyAndRemovedOnClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spread.pid")
	p, err := openPIDFile(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	tmp := p.tmp.Name()
	if filepath.Dir(tmp) != filepath.Dir(path) {
		t.Errorf("temporary file %s is not beside %s: the rename would cross file systems", tmp, path)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("pidfile exists before ready: %v", err)
	}
	if err := p.ready(nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil || string(b) != strconv.Itoa(os.Getpid())+"\n" {
		t.Fatalf("pidfile holds %q (%v), want this pid and a newline", b, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Errorf("pidfile mode %v, want 0644", fi.Mode().Perm())
	}
	if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary file left after ready: %v", err)
	}
	p.workersChanged(nil)
	p.stopping(nil)
	p.close()
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("pidfile left after close: %v", err)
	}
}

func TestPIDFileOfAnotherProcessIsLeftOnClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "spread.pid")
	p, err := openPIDFile(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ready(nil); err != nil {
		t.Fatal(err)
	}
	// A successor took the file over.
	if err := os.WriteFile(path, []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.close()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("another process's pidfile was removed: %v", err)
	}
}

func TestPIDFileNeverReadyLeavesNothingBehind(t *testing.T) {
	dir := t.TempDir()
	p, err := openPIDFile(filepath.Join(dir, "spread.pid"), 0)
	if err != nil {
		t.Fatal(err)
	}
	p.close()
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Fatalf("files left after a close before ready: %v", left)
	}
}

func TestPIDFileRefusesWhatAppearedAtItsPathBeforeReady(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "spread.pid")
	p, err := openPIDFile(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := p.ready(nil); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("ready over a directory: %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 1 {
		t.Fatalf("want only the directory left, got %v", left)
	}
}

func TestPIDFileInAMissingDirectoryFailsAtOpen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "spread.pid")
	_, err := openPIDFile(path, 0)
	if err == nil || !strings.Contains(err.Error(), "pidfile "+path+" cannot be written") {
		t.Fatalf("openPIDFile in a missing directory: %v", err)
	}
	if _, err := openPIDFile(writePIDFile(t, "abc"), 0); err == nil {
		t.Fatal("openPIDFile over a file of the user's succeeded")
	}
}
