package spreadtest

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// Nobody is the uid (and gid) tests use for "another user".
const Nobody = 65534

var (
	sharedOnce sync.Once
	sharedPath string
	sharedErr  error
)

// SharedBinary is Binary copied into a directory every user can read and
// execute, for processes run under another uid (Binary's own directory is
// private to the user running the tests).
func SharedBinary(t testing.TB) string {
	t.Helper()
	bin := Binary(t)
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "spread-shared-bin-")
		if err == nil {
			err = os.Chmod(dir, 0o755)
		}
		if err != nil {
			sharedErr = err
			return
		}
		sharedPath = filepath.Join(dir, "spread")
		sharedErr = copyFile(bin, sharedPath, 0o755)
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedPath
}

func copyFile(from, to string, mode os.FileMode) error {
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	if err := dst.Close(); err != nil {
		return err
	}
	return os.Chmod(to, mode)
}

// AsUser makes cmd run with uid as its user and group. Only root may do
// this; tests call RequireRoot first.
func AsUser(cmd *exec.Cmd, uid int) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
}

// RequireRoot skips a test that must create files of, or run processes
// as, another user.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root to act as another user")
	}
}

// UserDir creates a directory owned by uid with the given mode, under a
// new directory that every user can traverse; it is removed when the test
// ends.
func UserDir(t testing.TB, uid int, mode os.FileMode) string {
	t.Helper()
	base, err := os.MkdirTemp("", "spread-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	if err := os.Chmod(base, 0o711); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(base, "d")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, uid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
	return dir
}

// StartAs is StartEnv run as uid, from SharedBinary. The process is killed
// when the test ends, if it is still running.
func StartAs(t testing.TB, uid int, env []string, args ...string) *Server {
	t.Helper()
	addr := fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	return start(t, SharedBinary(t), addr, env, args, func(cmd *exec.Cmd) { AsUser(cmd, uid) })
}

// StartBinaryAt is StartAt running the binary at bin (SharedBinary, for
// workers that run as another user).
func StartBinaryAt(t testing.TB, bin, addr string, args ...string) *Server {
	t.Helper()
	return start(t, bin, addr, nil, args)
}

// FreeLowPort is a TCP port below 1024 that is free on 127.0.0.1 now, for
// a server that binds a privileged port; the test is skipped when none is.
func FreeLowPort(t testing.TB) int {
	t.Helper()
	RequireRoot(t)
	start := 600 + os.Getpid()%400
	for i := range 400 {
		port := 600 + (start-600+i)%400
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Skip("no free port in 600..999 on 127.0.0.1")
	return 0
}
