package supervisor

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// These tests play the other users the control socket's trust rules are
// about: a server that listens as another uid (SO_PEERCRED records the
// effective uid at listen(2)), directories that another user owns, and a
// /run/spread of another user, in a mount namespace of the test's own.
// They need root; without it they skip.

// nobodyUID is the uid the tests play another user with.
const nobodyUID = 65534

func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to play another user")
	}
}

// listenFDAs binds a Unix socket at path and listens on it with the
// effective uid uid, which the kernel then reports to every client as the
// server's. It changes the uid of the calling thread only, so the caller
// must have locked its goroutine to the thread; the uid is set back
// before it returns.
func listenFDAs(path string, uid int) (int, error) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	// The raw call, not unix.Setresuid: that one changes every thread.
	keep := ^uintptr(0)
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, keep, uintptr(uid), keep); e != 0 {
		unix.Close(fd)
		return -1, e
	}
	lerr := unix.Listen(fd, 16)
	if _, _, e := unix.RawSyscall(unix.SYS_SETRESUID, keep, 0, keep); e != 0 {
		panic("cannot become root again: " + e.Error())
	}
	if lerr != nil {
		unix.Close(fd)
		return -1, lerr
	}
	return fd, nil
}

// listenAs is listenFDAs on a thread of its own, which ends with it; the
// socket is closed at the end of the test.
func listenAs(t *testing.T, path string, uid int) {
	t.Helper()
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: the thread exits with the goroutine.
		runtime.LockOSThread()
		fd, err := listenFDAs(path, uid)
		done <- result{fd, err}
	}()
	r := <-done
	if r.err != nil {
		t.Fatalf("listen on %s as uid %d: %v", path, uid, r.err)
	}
	t.Cleanup(func() { unix.Close(r.fd) })
}

// dialTimeout is dialControl with a deadline.
func dialTimeout(path string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return dialControl(ctx, path)
}

func TestDialControlRefusesAServerOfAnotherUser(t *testing.T) {
	needRoot(t)
	path := filepath.Join(shortTempDir(t), "ctl.sock")
	listenAs(t, path, nobodyUID)
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if uid, err := peerUID(c); err != nil || uid != nobodyUID {
		t.Fatalf("peerUID = %d, %v; want %d", uid, err, nobodyUID)
	}
	c2, err := dialTimeout(path)
	var untrusted *untrustedPeerError
	if !errors.As(err, &untrusted) || untrusted.uid != nobodyUID {
		if c2 != nil {
			c2.Close()
		}
		t.Fatalf("dialControl to a server of uid %d: %v, want it refused as untrusted", nobodyUID, err)
	}
}

func TestDialControlRefusesAForeignDefaultDirectoryOutsideRunSpread(t *testing.T) {
	needRoot(t)
	xdg := shortTempDir(t)
	t.Setenv("XDG_RUNTIME_DIR", xdg)
	dir := filepath.Join(xdg, "spread")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ctl.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if err := os.Chown(dir, nobodyUID, nobodyUID); err != nil {
		t.Fatal(err)
	}
	// Root trusts the owner of /run/spread only; any other default
	// directory of another user's is refused, whoever serves in it.
	c, err := dialTimeout(path)
	var foreign *foreignOwnerError
	if !errors.As(err, &foreign) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dialControl into %s, owned by uid %d: %v, want refused for its owner", dir, nobodyUID, err)
	}
}

func TestDefaultControlDirStopsAtAForeignCandidateOutsideRunSpread(t *testing.T) {
	needRoot(t)
	xdg := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", xdg)
	dir := filepath.Join(xdg, "spread")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, nobodyUID, nobodyUID); err != nil {
		t.Fatal(err)
	}
	got, err := defaultControlDir()
	var foreign *foreignOwnerError
	if got != dir || !errors.As(err, &foreign) {
		t.Fatalf("defaultControlDir = %s, %v; want %s and that another user owns it", got, err, dir)
	}
}

func TestCheckControlDirOfJudgesTheDirectoriesOfTheSocketsOwner(t *testing.T) {
	needRoot(t)
	xdg, tmp := t.TempDir(), t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", xdg)
	t.Setenv("TMPDIR", tmp)
	// This user's socket: its $XDG_RUNTIME_DIR counts.
	mine := filepath.Join(xdg, "spread")
	if err := os.Mkdir(mine, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(mine, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := checkControlDirOf(filepath.Join(mine, "x.sock"), os.Getuid()); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Errorf("own socket in a world-writable $XDG_RUNTIME_DIR/spread: %v, want refused", err)
	}
	// The workers' user's socket: $TMPDIR/spread-<uid> must be theirs.
	theirs := filepath.Join(tmp, "spread-65534")
	if err := os.Mkdir(theirs, 0o700); err != nil {
		t.Fatal(err)
	}
	var foreign *foreignOwnerError
	if err := checkControlDirOf(filepath.Join(theirs, "x.sock"), nobodyUID); !errors.As(err, &foreign) || foreign.want != nobodyUID {
		t.Errorf("uid %d's socket in a directory of root's: %v, want refused for its owner", nobodyUID, err)
	}
	if err := os.Chown(theirs, nobodyUID, nobodyUID); err != nil {
		t.Fatal(err)
	}
	if err := checkControlDirOf(filepath.Join(theirs, "x.sock"), nobodyUID); err != nil {
		t.Errorf("uid %d's socket in its own directory: %v", nobodyUID, err)
	}
}

// TestRootTrustsTheOwnerOfRunSpread gives /run a tmpfs in a mount
// namespace of the test's thread, with a /run/spread of another user's, as
// systemd makes for a unit's User= or DynamicUser=.
func TestRootTrustsTheOwnerOfRunSpread(t *testing.T) {
	needRoot(t)
	t.Setenv("XDG_RUNTIME_DIR", "")
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread, in its own mount namespace, exits
		// with the goroutine.
		runtime.LockOSThread()
		errc <- inRunSpreadOf(nobodyUID, func(dir string) error {
			path := filepath.Join(dir, "ctl.sock")
			fd, err := listenFDAs(path, nobodyUID)
			if err != nil {
				return err
			}
			defer unix.Close(fd)
			c, err := dialTimeout(path)
			if err != nil {
				return err
			}
			return c.Close()
		})
	}()
	if err := <-errc; err != nil {
		if errors.Is(err, unix.EPERM) {
			t.Skipf("no mount namespace here: %v", err)
		}
		t.Fatalf("root dialing a server of the owner of its /run/spread: %v", err)
	}
}

// inRunSpreadOf runs fn on the calling thread, which must be locked and
// then dropped, in a new mount namespace whose /run is a tmpfs holding a
// /run/spread of uid's.
func inRunSpreadOf(uid int, fn func(dir string) error) error {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return err
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", "/run", "tmpfs", 0, "mode=0755"); err != nil {
		return err
	}
	if err := unix.Mkdir(sharedControlDir, 0o700); err != nil {
		return err
	}
	if err := unix.Chown(sharedControlDir, uid, uid); err != nil {
		return err
	}
	return fn(sharedControlDir)
}
