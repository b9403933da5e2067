package reuseport

import (
	"fmt"
	"os"
	"strings"
)

// migrateReqPath is the per-network-namespace switch added in Linux 5.14.
const migrateReqPath = "/proc/sys/net/ipv4/tcp_migrate_req"

// MigrateReqEnabled reports whether net.ipv4.tcp_migrate_req is 1 in the
// caller's network namespace. When it is, the kernel moves the connections
// queued on a closing reuseport listener (closed, or its process killed) to
// another listener of the same group instead of resetting them; when it is
// 0, the default, those connections are reset.
//
// It returns false and an error if the setting cannot be read, as on
// kernels older than 5.14, which always reset.
func MigrateReqEnabled() (bool, error) {
	b, err := os.ReadFile(migrateReqPath)
	if err != nil {
		return false, fmt.Errorf("read net.ipv4.tcp_migrate_req: %w", err)
	}
	return strings.TrimSpace(string(b)) == "1", nil
}
