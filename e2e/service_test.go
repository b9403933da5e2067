package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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

// unitSettings reads scripts/spread.service: every Key=value of its
// sections, the values of a repeated key in order.
func unitSettings(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("scripts/spread.service")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	settings := map[string][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			settings[k] = append(settings[k], v)
		}
	}
	return settings
}

// TestServiceUnitRunsAsADedicatedUserWithTheHardening is issue 11's bar
// for the shipped unit: a dedicated user that may bind a port below 1024,
// a descriptor limit, /run/spread, and `systemd-analyze security` at 2.0
// or lower.
func TestServiceUnitRunsAsADedicatedUserWithTheHardening(t *testing.T) {
	u := unitSettings(t)
	for key, want := range map[string]string{
		"DynamicUser":             "yes",
		"AmbientCapabilities":     "CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet":   "CAP_NET_BIND_SERVICE",
		"RuntimeDirectory":        "spread",
		"ProtectSystem":           "strict",
		"NoNewPrivileges":         "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
	} {
		if got := u[key]; len(got) != 1 || got[0] != want {
			t.Errorf("spread.service: %s=%v, want %s", key, got, want)
		}
	}
	if n, err := strconv.Atoi(strings.Join(u["LimitNOFILE"], "")); err != nil || n < 4096 {
		t.Errorf("spread.service: LimitNOFILE=%v, want a number of at least 4096", u["LimitNOFILE"])
	}
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed; directives checked, exposure not rated")
	}
	out, err := exec.Command(analyze, "security", "--offline=true", "scripts/spread.service").CombinedOutput()
	m := regexp.MustCompile(`Overall exposure level for spread\.service: ([0-9.]+)`).FindSubmatch(out)
	if err != nil || m == nil {
		t.Fatalf("systemd-analyze security --offline=true: %v\n%s", err, out)
	}
	if score, _ := strconv.ParseFloat(string(m[1]), 64); score > 2.0 {
		t.Fatalf("systemd-analyze rates spread.service %.1f, want 2.0 or lower:\n%s", score, out)
	}
}

// TestServerStartedAsTheUnitDoesIsFoundByAPlainStatus runs spread the way
// scripts/spread.service does, without systemd: the unit's ExecStart and
// Environment=, as an unprivileged user, with no XDG_RUNTIME_DIR, and
// /run/spread made for that user with RuntimeDirectoryMode (a tmpfs in a
// mount namespace of the test's own, so the host's /run/spread is not
// touched). Root's plain `spread status --addr`, with an XDG_RUNTIME_DIR
// of its own as a login shell has, must find it.
func TestServerStartedAsTheUnitDoesIsFoundByAPlainStatus(t *testing.T) {
	spreadtest.RequireRoot(t)
	for _, tool := range []string{"unshare", "setpriv", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	u := unitSettings(t)
	if got := u["RuntimeDirectory"]; len(got) != 1 || got[0] != "spread" {
		t.Fatalf("RuntimeDirectory=%v, want spread", got)
	}
	mode := "0755"
	if m := u["RuntimeDirectoryMode"]; len(m) == 1 {
		mode = m[0]
	}
	bin := spreadtest.SharedBinary(t)
	addr := fmt.Sprintf("127.0.0.1:%d", spreadtest.FreePort(t))
	var start []string
	args := strings.Fields(strings.Join(u["ExecStart"], ""))
	for i := 0; i < len(args); i++ {
		switch {
		case i == 0:
			start = append(start, bin)
		case args[i] == "--addr" && i+1 < len(args):
			start = append(start, "--addr", addr)
			i++
		default:
			start = append(start, args[i])
		}
	}
	var env []string
	for _, e := range u["Environment"] {
		env = append(env, strings.Trim(e, `"`))
	}
	script := `
set -u
mount -t tmpfs -o mode=$MODE,uid=$UID_,gid=$UID_ spread-unit-test /run/spread || exit 3
env -i PATH="$PATH" $UNIT_ENV setpriv --reuid $UID_ --regid $UID_ --clear-groups $START >"$LOG" 2>&1 &
server=$!
i=0
while :; do
	out=$(XDG_RUNTIME_DIR="$ROOT_XDG" "$BIN" status --addr "$ADDR" 2>&1) && echo "$out" | grep -Eq ' ([0-9]+)/\1 workers online' && break
	i=$((i+1))
	if [ $i -ge 150 ]; then echo "$out"; kill $server; wait $server; exit 4; fi
	sleep 0.1
done
echo "$out"
kill -TERM $server
wait $server
`
	rootXDG := t.TempDir()
	log := filepath.Join(t.TempDir(), "server.log")
	if err := os.MkdirAll("/run/spread", 0o700); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", "sh", "-c", script)
	cmd.Env = append(os.Environ(), "MODE="+mode, "UID_="+strconv.Itoa(spreadtest.Nobody),
		"UNIT_ENV="+strings.Join(env, " "), "START="+strings.Join(start, " "), "LOG="+log,
		"ROOT_XDG="+rootXDG, "BIN="+bin, "ADDR="+addr)
	out, err := cmd.CombinedOutput()
	serverLog, _ := os.ReadFile(log)
	if err != nil {
		t.Fatalf("root's spread status did not find the unit's server: %v\n%s\nserver log:\n%s", err, out, serverLog)
	}
	if m := regexp.MustCompile(`(\d+)/(\d+) workers online`).FindStringSubmatch(string(out)); m == nil || m[1] != m[2] {
		t.Fatalf("status of the unit's server: %s\nserver log:\n%s", out, serverLog)
	}
	if want := "/run/spread/" + controlSocketName(addr); !strings.Contains(string(serverLog), want) {
		t.Fatalf("the server's control socket is not %s:\n%s", want, serverLog)
	}
}

// controlSocketName is the default socket's file name for addr, as
// supervisor.DefaultControlSocket makes it.
func controlSocketName(addr string) string {
	return "spread-" + strings.ReplaceAll(addr, ":", "-") + ".sock"
}
