package main

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"strconv"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/spreadhttp/spread/supervisor"
)

var (
	flagUser = &cli.StringFlag{Name: "user", EnvVars: []string{"SPREAD_USER"},
		Usage: "run every worker as this user (name or uid); the supervisor keeps its privileges and binds the sockets, as nginx's master does"}
	flagGroup = &cli.StringFlag{Name: "group", EnvVars: []string{"SPREAD_GROUP"},
		Usage: "with --user, the workers' group (name or gid); default: the user's primary group"}
)

// userFlags are the flags of the privilege drop.
func userFlags() []cli.Flag {
	return []cli.Flag{flagUser, flagGroup}
}

// applyUserFlags sets cfg.Credential from --user and --group, and, unless
// --control-socket names one, the control socket where that user's plain
// `spread status` looks for it. Any user or group that does not exist is a
// one-line error here, before anything is bound.
func applyUserFlags(c *cli.Context, cfg *supervisor.Config) error {
	cred, err := workerCredential(c.String("user"), c.String("group"))
	if err != nil || cred == nil {
		return err
	}
	cfg.Credential = cred
	if c.String("control-socket") == "" {
		cfg.ControlSocket = supervisor.DefaultControlSocketFor(cfg.Addr, int(cred.Uid), int(cred.Gid))
	}
	return nil
}

// workerCredential resolves the workers' user and group: nil when no user
// is named. The supplementary groups are the user's own, as initgroups(3)
// would set them for a login, plus the chosen group.
func workerCredential(name, group string) (*syscall.Credential, error) {
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
