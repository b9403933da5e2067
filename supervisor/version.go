package supervisor

import (
	"runtime/debug"
	"strings"
	"sync"
)

// Version is this binary's version: the main module's version when built
// from a tagged module, else "devel", followed by the VCS commit (and
// "-dirty" for uncommitted changes) when the build recorded one. Workers
// report theirs, so a half-finished upgrade or reload shows in status.
func Version() string { return version() }

var version = sync.OnceValue(func() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := info.Main.Version
	if v == "" || v == "(devel)" {
		v = "devel"
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	// A pseudo-version already names the commit.
	if rev != "" && !strings.Contains(v, rev) {
		v += " " + rev + dirty
	}
	return v
})
