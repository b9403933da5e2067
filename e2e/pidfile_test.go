package e2e

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/spreadtest"
)

// --pidfile pointed at anything but a free path or a stale spread pidfile
// is refused before a worker starts, and what was there is left alone.
func TestPidfileRefusesWhatIsNotAStalePidfile(t *testing.T) {
	cases := []struct {
		name  string
		setup func(t *testing.T, path string)
		want  string
	}{
		{"a file of the user's", func(t *testing.T, path string) {
			write(t, path, "precious data\n")
		}, "holds something other than a pid"},
		{"a large file", func(t *testing.T, path string) {
			write(t, path, strings.Repeat("1", 4096))
		}, "holds 4096 bytes"},
		{"a directory", func(t *testing.T, path string) {
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
		}, "is a directory"},
		{"a symlink to a file", func(t *testing.T, path string) {
			target := filepath.Join(filepath.Dir(path), "target")
			write(t, target, "123\n")
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
		}, "is a symlink"},
		{"a FIFO", func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o644); err != nil {
				t.Fatal(err)
			}
		}, "is a FIFO"},
		{"a missing directory", func(t *testing.T, path string) {}, "cannot be written: no such file or directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "spread.pid")
			if c.name == "a missing directory" {
				path = filepath.Join(t.TempDir(), "missing", "spread.pid")
			}
			c.setup(t, path)
			before := snapshot(path)
			s := spreadtest.Start(t, "--workers", "1", "--pidfile", path)
			if code := s.Wait(10 * time.Second); code != 1 {
				t.Fatalf("spread serve exited %d, want 1", code)
			}
			assertOneErrorLine(t, s.Log().String(), c.want)
			if n := len(s.Log().Events("worker started")); n != 0 {
				t.Fatalf("%d workers started before the refusal", n)
			}
			if after := snapshot(path); after != before {
				t.Fatalf("the path changed from %q to %q", before, after)
			}
		})
	}
}

// A stale pidfile (its number names no process, or a process that is not
// spread) is replaced, and removed on exit.
func TestStalePidfileIsReplacedAndRemovedOnExit(t *testing.T) {
	for name, content := range map[string]string{
		"no such process":   "4194304\n", // above any pid_max
		"not spread":        strconv.Itoa(os.Getpid()) + "\n",
		"no trailing space": "4194304",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "spread.pid")
			write(t, path, content)
			s := spreadtest.Start(t, "--workers", "1", "--pidfile", path)
			s.WaitOnline(1, 10*time.Second)
			want := strconv.Itoa(s.Pid()) + "\n"
			spreadtest.Eventually(t, 5*time.Second, "the pidfile to hold the supervisor's pid", func() bool {
				b, _ := os.ReadFile(path)
				return string(b) == want
			})
			s.Signal(syscall.SIGTERM)
			if code := s.Wait(15 * time.Second); code != 0 {
				t.Fatalf("exit %d after SIGTERM", code)
			}
			if _, err := os.Lstat(path); !os.IsNotExist(err) {
				t.Fatalf("pidfile still there after exit: %v", err)
			}
			if left, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".spread-pid-*")); len(left) != 0 {
				t.Fatalf("temporary files left: %v", left)
			}
		})
	}
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// snapshot describes what is at path: its type and, for a file, its
// content.
func snapshot(path string) string {
	fi, err := os.Lstat(path)
	if err != nil {
		return err.Error()
	}
	if !fi.Mode().IsRegular() {
		return fi.Mode().String()
	}
	b, _ := os.ReadFile(path)
	return string(b)
}
