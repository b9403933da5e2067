package supervisor

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// findControlEnv points $XDG_RUNTIME_DIR and $TMPDIR into a temporary
// directory and returns both.
func findControlEnv(t *testing.T) (xdg, tmp string) {
	t.Helper()
	base, err := os.MkdirTemp("", "spf")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	xdg, tmp = filepath.Join(base, "x"), filepath.Join(base, "t")
	for _, d := range []string{xdg, tmp} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("XDG_RUNTIME_DIR", xdg)
	t.Setenv("TMPDIR", tmp)
	return xdg, tmp
}

// listenAt serves a unix socket at path, in a 0700 directory it makes.
func listenAt(t *testing.T, path string) *net.UnixListener {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

func TestFindControlSocketPicksTheDirectoryWithAnAnsweringServer(t *testing.T) {
	const addr = "127.0.0.1:59999"
	xdg, tmp := findControlEnv(t)
	name := controlSocketName(addr)
	def := filepath.Join(xdg, "spread", name)
	if got := FindControlSocket(addr); got != def {
		t.Fatalf("with no server: %s, want the default %s", got, def)
	}
	// A regular file of the socket's name in the first directory is no
	// server.
	if err := os.WriteFile(def, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(tmp, "spread-"+strconv.Itoa(os.Getuid()), name)
	ln := listenAt(t, live)
	if got := FindControlSocket(addr); got != live {
		t.Fatalf("with a server in %s: found %s", live, got)
	}
	// A socket left by a killed server does not answer.
	ln.SetUnlinkOnClose(false)
	ln.Close()
	if got := FindControlSocket(addr); got != def {
		t.Fatalf("with only a stale socket: %s, want the default %s", got, def)
	}
}

func TestRootFindsTheServerItStartedForAnotherUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root")
	}
	const addr = "127.0.0.1:59998"
	_, tmp := findControlEnv(t)
	other := filepath.Join(tmp, "spread-4242", controlSocketName(addr))
	listenAt(t, other)
	if got := FindControlSocket(addr); got != other {
		t.Fatalf("root found %s, want the server in another user's directory %s", got, other)
	}
}

func TestDefaultControlSocketForAnotherUserIsInTheirTempDirectory(t *testing.T) {
	const addr = ":59997"
	_, tmp := findControlEnv(t)
	if got, want := DefaultControlSocketFor(addr, os.Getuid(), os.Getgid()), DefaultControlSocket(addr); got != want {
		t.Errorf("for this user: %s, want DefaultControlSocket's %s", got, want)
	}
	const uid = 4242
	dir := filepath.Join(tmp, "spread-4242")
	if got, want := DefaultControlSocketFor(addr, uid, uid), filepath.Join(dir, "spread-59997.sock"); got != want {
		t.Fatalf("for uid %d: %s, want %s", uid, got, want)
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("the user's directory: %v, %v; want one of mode 0700", fi, err)
	}
	if os.Getuid() == 0 {
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != uid {
			t.Errorf("the directory made for uid %d is owned by %d", uid, st.Uid)
		}
	}
}
