package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spreadhttp/spread/internal/spreadtest"
)

func TestServiceUnitIsNotifyWithHUPReloadMixedKillAndRestarts(t *testing.T) {
	unit, err := os.ReadFile("scripts/spread.service")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "KillMode=mixed", "Restart=on-failure", "WatchdogSec="} {
		if !strings.Contains(string(unit), "\n"+want) {
			t.Errorf("spread.service lacks %q", want)
		}
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed; directives checked, unit not verified")
	}
	// Verify the unit as systemd would load it, pointing at a real binary.
	path := filepath.Join(t.TempDir(), "spread.service")
	fixed := strings.ReplaceAll(string(unit), "/usr/local/bin/spread", spreadtest.Binary(t))
	if err := os.WriteFile(path, []byte(fixed), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(analyze, "verify", path).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
}
