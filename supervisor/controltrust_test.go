package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// privateDir is a fresh directory with the given mode.
func privateDir(t *testing.T, mode os.FileMode) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "d")
	if err := os.Mkdir(d, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, mode); err != nil {
		t.Fatal(err)
	}
	return d
}

func TestTrustedDirWantsAPrivateDirectoryOfThisUser(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(privateDir(t, 0o700), link); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, dir, want string
	}{
		{"0700", privateDir(t, 0o700), ""},
		{"0755", privateDir(t, 0o755), ""},
		{"group-writable", privateDir(t, 0o720), "writable by group or others (mode 0720)"},
		{"world-writable", privateDir(t, 0o702), "writable by group or others (mode 0702)"},
		{"symlink", link, "is a symlink"},
		{"file", file, "is not a directory"},
		{"missing", filepath.Join(t.TempDir(), "none"), "no such file"},
	}
	for _, c := range cases {
		err := trustedDir(c.dir)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: trustedDir = %v, want %q", c.name, err, c.want)
		}
	}
}

func TestTrustedDirRefusesAnotherUsersDirectory(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("giving a directory away needs root")
	}
	d := privateDir(t, 0o700)
	if err := os.Chown(d, 4242, -1); err != nil {
		t.Fatal(err)
	}
	err := trustedDir(d)
	var foreign *foreignOwnerError
	if !errors.As(err, &foreign) || foreign.uid != 4242 {
		t.Fatalf("trustedDir of uid 4242's directory: %v, want a foreignOwnerError", err)
	}
	want := fmt.Sprintf("control socket directory %s is owned by uid 4242, not by you (uid %d)", d, os.Getuid())
	if !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("message %q, want it to start %q", err, want)
	}
}

func TestDescribeUIDNamesKnownUsers(t *testing.T) {
	if os.Getuid() == 0 {
		if got := describeUID(0); got != "root (uid 0)" {
			t.Errorf("describeUID(0) = %q", got)
		}
	}
	if got := describeUID(424242); got != "uid 424242" {
		t.Errorf("describeUID(424242) = %q", got)
	}
}

func TestControlDirsStartWithXDGRuntimeDir(t *testing.T) {
	tmpSpread := filepath.Join(os.TempDir(), "spread-"+strconv.Itoa(os.Getuid()))
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/7")
	if got, want := controlDirs(), []string{"/run/user/7/spread", sharedControlDir, tmpSpread}; !equalStrings(got, want) {
		t.Errorf("controlDirs with XDG_RUNTIME_DIR = %v, want %v", got, want)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	if got, want := controlDirs(), []string{sharedControlDir, tmpSpread}; !equalStrings(got, want) {
		t.Errorf("controlDirs without XDG_RUNTIME_DIR = %v, want %v", got, want)
	}
}

func equalStrings(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}

func TestDefaultControlSocketIsInXDGRuntimeDirAndNamedByTheAddress(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", xdg)
	for addr, name := range map[string]string{
		":8000":          "spread-8000.sock",
		"127.0.0.1:8000": "spread-127.0.0.1-8000.sock",
		"[::1]:8000":     "spread---1-8000.sock",
		"a/b:1":          "spread-a-b-1.sock",
	} {
		if got, want := DefaultControlSocket(addr), filepath.Join(xdg, "spread", name); got != want {
			t.Errorf("DefaultControlSocket(%q) = %s, want %s", addr, got, want)
		}
	}
	fi, err := os.Stat(filepath.Join(xdg, "spread"))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("the directory was not made 0700: %v %v", fi, err)
	}
}

func TestDefaultControlDirStopsAtAnUntrustedCandidate(t *testing.T) {
	xdg := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", xdg)
	dir := filepath.Join(xdg, "spread")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	got, err := defaultControlDir()
	if got != dir || err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Fatalf("defaultControlDir = %s, %v; want %s and why it is not trusted", got, err, dir)
	}
	// The server and the client refuse a socket there, and only there.
	if err := checkControlDir(filepath.Join(dir, "spread-8000.sock")); err == nil {
		t.Fatal("checkControlDir took a socket in a world-writable default directory")
	}
	if err := checkControlDir(filepath.Join(privateDir(t, 0o777), "ctl.sock")); err != nil {
		t.Fatalf("checkControlDir judged a directory named by hand: %v", err)
	}
	if _, err := dialControl(context.Background(), filepath.Join(dir, "spread-8000.sock")); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Fatalf("dialControl into an untrusted default directory: %v", err)
	}
}

func TestDialControlTrustsItsOwnServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := dialControl(ctx, path)
	if err != nil {
		t.Fatalf("dialControl to a socket of this user: %v", err)
	}
	defer c.Close()
	if uid, err := peerUID(c); err != nil || uid != os.Getuid() {
		t.Fatalf("peerUID = %d, %v; want %d", uid, err, os.Getuid())
	}
}

func TestDialControlWithNoServerIsErrNoServer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ctl.sock")
	_, err := dialControl(context.Background(), path)
	if !errors.Is(err, ErrNoServer) || !strings.Contains(err.Error(), path) {
		t.Fatalf("dialControl with nothing there: %v, want ErrNoServer naming %s", err, path)
	}
}

func TestPeerUIDNeedsAUnixSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := peerUID(c); err == nil || !strings.Contains(err.Error(), "not a unix socket") {
		t.Fatalf("peerUID of a TCP connection: %v", err)
	}
}

func TestDialErrorNamesTheOwnerOnPermissionDenied(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "ctl.sock")
	if err := os.WriteFile(sock, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	me := describeUID(os.Getuid())
	denied := &os.PathError{Op: "dial", Path: sock, Err: fs.ErrPermission}
	if got, want := dialError(sock, denied).Error(), "permission denied on control socket "+sock+", owned by "+me; !strings.HasPrefix(got, want) {
		t.Errorf("socket there: %q, want it to start %q", got, want)
	}
	missing := filepath.Join(dir, "sub", "ctl.sock")
	if got, want := dialError(missing, denied).Error(), "permission denied on control socket "+missing+" (in "+dir+"), owned by "+me; !strings.HasPrefix(got, want) {
		t.Errorf("socket missing: %q, want it to start %q", got, want)
	}
	if err := dialError(sock, errors.New("connection refused")); !errors.Is(err, ErrNoServer) {
		t.Errorf("refused: %v, want ErrNoServer", err)
	}
}

func TestControlTrustErrorsReadAsOneLine(t *testing.T) {
	e := &untrustedPeerError{path: "/run/spread/x.sock", uid: 424242}
	if got, want := e.Error(), "control socket /run/spread/x.sock is served by uid 424242, not by you or root: not trusting its answer"; got != want {
		t.Errorf("untrustedPeerError = %q, want %q", got, want)
	}
	inner := errors.New("inner")
	f := &dialFailure{err: inner}
	if f.Error() != "inner" || !errors.Is(f, inner) {
		t.Errorf("dialFailure hides its error: %q", f.Error())
	}
}
