package reuseport

import "testing"

// Linux 6.18 has net.ipv4.tcp_migrate_req (since 5.14); its value is the
// host's choice, so only the reading is checked.
func TestMigrateReqEnabledReadsOnThisKernel(t *testing.T) {
	on, err := MigrateReqEnabled()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("net.ipv4.tcp_migrate_req on: %v", on)
}
