package supervisor

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/spreadhttp/spread/reuseport"
)

// Privilege drop, the way nginx's master does it. The supervisor keeps the
// privileges it started with (root, say, to bind port 80) and runs every
// worker, built-in or a command of the user's, as Config.Credential. It
// binds each slot's socket itself before the slot's first worker starts,
// so a worker inherits a socket that is already bound and listening and
// needs no privilege to serve a port below 1024. Its channel, scoreboard
// and (in exec mode) notify socket reach it as inherited descriptors or an
// abstract socket, which no file permission guards.
//
// The supervisor stays privileged on purpose: scale-up binds the new
// slots' sockets, the steering program needs CAP_BPF to be loaded, and an
// upgrade re-executes the supervisor with the same rights. It serves no
// request and reads nothing a client sends but the 0600 control socket.

// bindSlot gives sl a socket bound by the supervisor, for a worker that
// runs with fewer privileges than it takes to bind the address. A slot
// that already has a socket keeps it.
func (s *supervisor) bindSlot(sl *slot) error {
	if sl.socket != nil {
		return nil
	}
	ln, err := reuseport.ListenWith(context.Background(), s.cfg.Addr, s.cfg.Socket)
	if err != nil {
		return err
	}
	defer ln.Close()
	f, err := reuseport.File(ln)
	if err != nil {
		return err
	}
	defer f.Close()
	// A bare descriptor, which f's finalizer cannot close.
	fd, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("dup slot socket: %w", err)
	}
	s.adoptSocket(sl, fd)
	return nil
}

// workerAttr is how a worker process starts: in a process group of its
// own, which keeps a terminal's Ctrl-C away from the workers (the
// supervisor alone decides how they stop), and as Config.Credential when
// one is set.
func workerAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: cred}
}

// controlOwner is the uid and gid the control socket and its directory
// belong to: the workers' user when privileges are dropped, so that this
// user's `spread status` works; the supervisor's own otherwise.
func (c *Config) controlOwner() (uid, gid int) {
	if c.Credential != nil {
		return int(c.Credential.Uid), int(c.Credential.Gid)
	}
	return os.Getuid(), os.Getgid()
}

// makeControlDir makes the control socket's directory, mode 0700, with
// any missing parents. A directory it creates for another user (the
// workers') is handed to that user; one that exists is left as it is.
func makeControlDir(dir string, uid, gid int) error {
	_, err := os.Lstat(dir)
	existed := err == nil
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if existed || uid == os.Getuid() {
		return nil
	}
	return os.Chown(dir, uid, gid)
}

// WorkerCredential resolves the workers' user and group: nil when no user
// is named. The supplementary groups are the user's own, as initgroups(3)
// would set them for a login, plus the chosen group.
func WorkerCredential(name, group string) (*syscall.Credential, error) {
	switch {
	case name == "" && group == "":
		return nil, nil
	case name == "":
		return nil, errors.New("--group needs --user: name the user the workers run as")
	}
	u, err := lookupUser(name)
	if err != nil {
		return nil, err
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	if group != "" {
		g, err := lookupGroup(group)
		if err != nil {
			return nil, err
		}
		gid, _ = strconv.ParseUint(g.Gid, 10, 32)
	}
	if os.Geteuid() != 0 {
		if int(uid) != os.Geteuid() || int(gid) != os.Getegid() {
			return nil, fmt.Errorf("--user %s needs spread to start as root, to switch the workers to another user or group", name)
		}
		// Already that user and group: nothing to drop (and setgroups,
		// which a credential implies, would need root).
		return nil, nil
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{uint32(gid)}}
	// A user with no group list (a uid that /etc/passwd lacks) gets the
	// chosen group alone.
	if ids, err := u.GroupIds(); err == nil {
		for _, id := range ids {
			if n, err := strconv.ParseUint(id, 10, 32); err == nil && uint32(n) != uint32(gid) {
				cred.Groups = append(cred.Groups, uint32(n))
			}
		}
	}
	return cred, nil
}

// lookupUser finds a user by name, or by a number that names an existing
// user.
func lookupUser(name string) (*user.User, error) {
	u, err := user.Lookup(name)
	if err == nil {
		return u, nil
	}
	if _, nerr := strconv.ParseUint(name, 10, 32); nerr == nil {
		if u, err := user.LookupId(name); err == nil {
			return u, nil
		}
	}
	return nil, fmt.Errorf("--user: no user %q on this system", name)
}

// lookupGroup finds a group by name, or by a number that names an
// existing group.
func lookupGroup(name string) (*user.Group, error) {
	g, err := user.LookupGroup(name)
	if err == nil {
		return g, nil
	}
	if _, nerr := strconv.ParseUint(name, 10, 32); nerr == nil {
		if g, err := user.LookupGroupId(name); err == nil {
			return g, nil
		}
	}
	return nil, fmt.Errorf("--group: no group %q on this system", name)
}
