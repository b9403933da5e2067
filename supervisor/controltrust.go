package supervisor

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The control socket's default directory is trusted as ssh trusts its
// files: it must be a real directory (not a symlink), owned by the user
// running spread, and writable by nobody else. Anyone who can write the
// directory can replace the socket, and a client would then obey a forged
// server. The client also checks who serves the socket (SO_PEERCRED, see
// dialControl), which covers a path given by hand.

// sharedControlDir is the system-wide directory: root's, normally. A user
// who does not own it skips it rather than fail to bind there.
const sharedControlDir = "/run/spread"

// DefaultControlSocket is the control socket path for a listen address,
// in the first usable directory of: $XDG_RUNTIME_DIR/spread,
// /run/spread (when this user owns it or can create it), and
// $TMPDIR/spread-<uid>. A directory is created with mode 0700 when it is
// missing. Server and CLI derive the path the same way, so
// `spread status --addr X` finds `spread serve --addr X`.
//
// When a directory on the way exists but cannot be trusted (owned by
// someone else, writable by group or others, or a symlink), the path
// inside it is returned anyway: the server refuses to open it and the
// client to dial it, each with the reason (see checkControlDir).
func DefaultControlSocket(addr string) string {
	dir, _ := defaultControlDir()
	return filepath.Join(dir, controlSocketName(addr))
}

// controlSocketName is the socket's file name for a listen address:
// ":8000" → spread-8000.sock, "127.0.0.1:8000" → spread-127.0.0.1-8000.sock.
func controlSocketName(addr string) string {
	return "spread-" + strings.NewReplacer(":", "-", "[", "", "]", "", "/", "-").Replace(strings.TrimPrefix(addr, ":")) + ".sock"
}

// DefaultControlSocketFor is DefaultControlSocket as the user uid would
// compute it without $XDG_RUNTIME_DIR (which belongs to the user running
// spread): /run/spread when uid already owns it, else
// $TMPDIR/spread-<uid>, created for uid (group gid) with mode 0700 when
// missing. A supervisor started as root with --user serves its control
// socket there, so that user's plain `spread status` finds it. For this
// process's own uid it is DefaultControlSocket.
func DefaultControlSocketFor(addr string, uid, gid int) string {
	if uid == os.Getuid() {
		return DefaultControlSocket(addr)
	}
	dirs := controlDirsOf(uid)
	dir := dirs[len(dirs)-1]
	if trustedDirOf(sharedControlDir, uid) == nil {
		dir = sharedControlDir
	} else if os.Mkdir(dir, 0o700) == nil {
		// Ours for a moment: a failed chown leaves it root's, which the
		// server then refuses with the reason (checkControlDirOf).
		_ = os.Chown(dir, uid, gid)
	}
	return filepath.Join(dir, controlSocketName(addr))
}

// FindControlSocket is where a client looks for the server of addr: the
// first default directory (see controlDirs) that holds its socket with a
// server answering on it, or DefaultControlSocket when none does. The
// search lets a user whose $XDG_RUNTIME_DIR is set reach a server that has
// none (a systemd unit, or a server started by root with --user), which
// serves in /run/spread or $TMPDIR/spread-<uid>.
//
// Root also looks in every $TMPDIR/spread-<uid>, where a server started by
// root with --user serves; such a server runs as root, which the client's
// peer check trusts.
func FindControlSocket(addr string) string {
	name := controlSocketName(addr)
	dirs := controlDirs()
	if os.Getuid() == 0 {
		others, _ := filepath.Glob(filepath.Join(os.TempDir(), "spread-[0-9]*"))
		dirs = append(dirs, others...)
	}
	for _, dir := range dirs {
		path := filepath.Join(dir, name)
		// A socket left by a killed server does not answer.
		if fi, err := os.Lstat(path); err == nil && fi.Mode().Type() == fs.ModeSocket {
			if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
				c.Close()
				return path
			}
		}
	}
	return DefaultControlSocket(addr)
}

// controlDirs are the candidate default directories, in order.
func controlDirs() []string {
	var dirs []string
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		dirs = append(dirs, filepath.Join(d, "spread"))
	}
	return append(dirs, controlDirsOf(os.Getuid())...)
}

// controlDirsOf are the candidate directories of user uid that do not
// depend on the environment.
func controlDirsOf(uid int) []string {
	return []string{sharedControlDir, filepath.Join(os.TempDir(), "spread-"+strconv.Itoa(uid))}
}

// defaultControlDir picks the default directory: the first candidate that
// exists and is trusted, or that this user can create. A shared directory
// this user does not own is skipped; any other candidate that exists but
// is not trusted stops the search with the reason.
func defaultControlDir() (string, error) {
	dirs := controlDirs()
	for _, dir := range dirs {
		err := os.Mkdir(dir, 0o700)
		if err != nil && !errors.Is(err, fs.ErrExist) {
			continue // no parent, or no right to create it here
		}
		err = trustedDir(dir)
		if err == nil {
			return dir, nil
		}
		var foreign *foreignOwnerError
		if dir == sharedControlDir && errors.As(err, &foreign) {
			continue
		}
		return dir, err
	}
	return dirs[len(dirs)-1], fmt.Errorf("no directory for the control socket among %s", strings.Join(dirs, ", "))
}

// checkControlDir refuses a control socket path whose directory is one of
// the default candidates but is not trusted. A directory named by hand
// (--control-socket) is the user's choice and is not judged here; the
// client's peer check still holds for it.
func checkControlDir(path string) error {
	dir := filepath.Dir(path)
	if !slices.Contains(controlDirs(), dir) {
		return nil
	}
	return trustedDir(dir)
}

// checkControlDirOf is checkControlDir for a socket that user uid is to
// own: a supervisor that runs its workers as uid hands it the socket.
func checkControlDirOf(path string, uid int) error {
	if uid == os.Getuid() {
		return checkControlDir(path)
	}
	dir := filepath.Dir(path)
	if !slices.Contains(controlDirsOf(uid), dir) {
		return nil
	}
	return trustedDirOf(dir, uid)
}

// foreignOwnerError is a directory owned by another user.
type foreignOwnerError struct {
	dir       string
	uid, want int
}

func (e *foreignOwnerError) Error() string {
	if e.want != os.Getuid() {
		return fmt.Sprintf("control socket directory %s is owned by %s, not by the workers' user %s: remove it, or pass --control-socket",
			e.dir, describeUID(e.uid), describeUID(e.want))
	}
	return fmt.Sprintf("control socket directory %s is owned by %s, not by you (uid %d): remove it, or pass --control-socket",
		e.dir, describeUID(e.uid), os.Getuid())
}

// trustedDir checks that dir is a real directory (lstat: a symlink is not
// followed), owned by this user, and not writable by group or others.
func trustedDir(dir string) error { return trustedDirOf(dir, os.Getuid()) }

// trustedDirOf is trustedDir for a directory that user uid must own.
func trustedDirOf(dir string, uid int) error {
	fi, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("control socket directory: %w", err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		return fmt.Errorf("control socket directory %s is a symlink, which spread does not follow: remove it, or pass --control-socket", dir)
	}
	if !fi.IsDir() {
		return fmt.Errorf("control socket directory %s is not a directory: remove it, or pass --control-socket", dir)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("control socket directory %s: cannot read its owner", dir)
	}
	if int(st.Uid) != uid {
		return &foreignOwnerError{dir: dir, uid: int(st.Uid), want: uid}
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("control socket directory %s is writable by group or others (mode %04o): chmod 700 it, or pass --control-socket",
			dir, fi.Mode().Perm())
	}
	return nil
}

// describeUID names a user for a message: "alice (uid 1000)", or
// "uid 1000" when the name is unknown.
func describeUID(uid int) string {
	id := strconv.Itoa(uid)
	if u, err := user.LookupId(id); err == nil && u.Username != "" {
		return u.Username + " (uid " + id + ")"
	}
	return "uid " + id
}

// dialControl connects to the control socket at path and checks who
// serves it before anything is sent: the server's credentials, which the
// kernel recorded when it called listen (SO_PEERCRED), must be this
// user's or root's. A socket of another user's process would answer with
// forged status and swallow stop requests.
//
// Root also trusts the owner of /run/spread to serve a socket in it: only
// root can make a directory in /run, and systemd makes that one for the
// unit's user (RuntimeDirectory=spread with DynamicUser= or User=).
func dialControl(ctx context.Context, path string) (net.Conn, error) {
	owner := os.Getuid()
	if err := checkControlDir(path); err != nil {
		var foreign *foreignOwnerError
		if os.Getuid() != 0 || filepath.Dir(path) != sharedControlDir || !errors.As(err, &foreign) {
			return nil, err
		}
		owner = foreign.uid
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, dialError(path, err)
	}
	uid, err := peerUID(c)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s: cannot read who serves it: %w", path, err)
	}
	if uid != os.Getuid() && uid != 0 && uid != owner {
		c.Close()
		return nil, &untrustedPeerError{path: path, uid: uid}
	}
	return c, nil
}

// untrustedPeerError is a control socket served by another user.
type untrustedPeerError struct {
	path string
	uid  int
}

func (e *untrustedPeerError) Error() string {
	return fmt.Sprintf("control socket %s is served by %s, not by you or root: not trusting its answer", e.path, describeUID(e.uid))
}

// peerUID is the uid of the process at the other end of a Unix socket.
func peerUID(c net.Conn) (int, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, fmt.Errorf("not a unix socket: %T", c)
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var cred *unix.Ucred
	var serr error
	if err := raw.Control(func(fd uintptr) {
		cred, serr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return 0, err
	}
	if serr != nil {
		return 0, serr
	}
	return int(cred.Uid), nil
}

// dialError explains a failed dial. Nothing listening (no socket, or a
// socket left by a killed server) is ErrNoServer; a socket this user may
// not use says so and names its owner, since no server being there is
// then not what happened.
func dialError(path string, err error) error {
	if !errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%w: nothing answers on control socket %s", ErrNoServer, path)
	}
	// The socket itself, or the first directory above it that can be
	// read, says whose it is.
	for p := path; ; p = filepath.Dir(p) {
		var st unix.Stat_t
		if unix.Stat(p, &st) == nil {
			what := "control socket " + path
			if p != path {
				what += " (in " + p + ")"
			}
			return fmt.Errorf("permission denied on %s, owned by %s: run as that user or root, or pass --control-socket", what, describeUID(int(st.Uid)))
		}
		if p == filepath.Dir(p) {
			return fmt.Errorf("permission denied on control socket %s", path)
		}
	}
}

// dialFailure carries dialControl's error through net/http, which would
// otherwise prefix it with the request.
type dialFailure struct{ err error }

func (e *dialFailure) Error() string { return e.err.Error() }
func (e *dialFailure) Unwrap() error { return e.err }
