package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/spreadtest"
)

// writeConfig writes a TOML config file and returns its path.
func writeConfig(t *testing.T, dir, text string) string {
	t.Helper()
	path := filepath.Join(dir, "spread.toml")
	replaceFile(t, path, []byte(text))
	return path
}

// The effective worker count shows in `spread status --json` (slots); the
// address the file names is overridden by spreadtest's --addr on every
// run; the access log path shows that the workers read the file too.
func TestConfigFilePrecedenceIsFlagThenEnvThenFileThenDefault(t *testing.T) {
	dir := t.TempDir()
	accessLog := filepath.Join(dir, "access.log")
	fileWorkers := 3
	if runtime.NumCPU() == fileWorkers {
		fileWorkers = 4 // else "file" could not be told from "default"
	}
	config := writeConfig(t, dir, fmt.Sprintf(`# spread serve flags, by name
workers = %d
addr = "127.0.0.1:1"
graceful-timeout = "5s"
tcp-defer-accept = false
access-log = %q
`, fileWorkers, accessLog))
	cases := []struct {
		name string
		env  []string
		args []string
		want int
	}{
		{"default", nil, nil, runtime.NumCPU()},
		{"file", nil, []string{"--config", config}, fileWorkers},
		{"file named by SPREAD_CONFIG", []string{"SPREAD_CONFIG=" + config}, nil, fileWorkers},
		{"env over file", []string{"SPREAD_WORKERS=2"}, []string{"--config", config}, 2},
		{"flag over env and file", []string{"SPREAD_WORKERS=2"}, []string{"--config", config, "--workers", "1"}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_ = os.Remove(accessLog)
			s := spreadtest.StartEnv(t, c.env, c.args...)
			s.WaitOnline(c.want, 15*time.Second)
			if st := statusOf(t, s); st.Slots != c.want || st.Addr != s.Addr {
				t.Fatalf("status: %d slots on %s, want %d on %s", st.Slots, st.Addr, c.want, s.Addr)
			}
			if r, err := s.Get("/"); err != nil || r.Status != 200 {
				t.Fatalf("GET /: %v %+v", err, r)
			}
			fromFile := c.name != "default"
			if fromFile {
				spreadtest.Eventually(t, 5*time.Second, "the access log the file names", func() bool {
					return len(accessLines(t, accessLog)) == 1
				})
			} else if _, err := os.Stat(accessLog); !os.IsNotExist(err) {
				t.Fatalf("an access log without a config file: %v", err)
			}
		})
	}
}

func TestControlCommandsFindTheServerThroughTheConfigFile(t *testing.T) {
	dir := t.TempDir()
	s := spreadtest.Start(t, "--workers", "1")
	s.WaitOnline(1, 10*time.Second)
	config := writeConfig(t, dir, fmt.Sprintf("addr = %q\nworkers = 4\n", s.Addr))
	out, err := exec.Command(spreadtest.Binary(t), "status", "--config", config).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "1/1 workers online") {
		t.Fatalf("spread status --config: %v\n%s", err, out)
	}

	// Workers read the file at start too: a reload after the file broke
	// stops at the first new worker, which says why.
	configured := spreadtest.Start(t, "--config", config)
	configured.WaitOnline(4, 15*time.Second)
	writeConfig(t, dir, "workers = 4\nwrokers = 2\n")
	// spread reload waits for the outcome: it fails, saying why.
	if out, code := configured.CLI("reload"); code == 0 || !strings.Contains(out, `unknown key "wrokers"`) {
		t.Fatalf("spread reload with a broken config: exit %d: %s", code, out)
	}
	waitEvents(t, configured, "reload failed: the old workers keep serving", 1, 10*time.Second)
	ev := configured.Log().Events("reload failed: the old workers keep serving")[0]
	if reason, _ := ev["reason"].(string); !strings.Contains(reason, `unknown key "wrokers"`) {
		t.Fatalf("reload failure reason %q does not say why", reason)
	}
}

func TestBadConfigFileIsOneLineError(t *testing.T) {
	dir := t.TempDir()
	cases := []struct{ name, text, want string }{
		{"unknown key", "wrokers = 2\n", `unknown key "wrokers"`},
		{"a table", "[tls]\ncert = \"c.pem\"\n", `unknown key "tls"`},
		{"wrong type", "workers = \"two\"\n", "workers"},
		{"duration as a number", "graceful-timeout = 5\n", "graceful-timeout"},
		{"not TOML", "workers = \n", "toml"},
		{"a bad value", "workers = 0\n", "--workers must be at least 1"},
	}
	bin := spreadtest.Binary(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			config := writeConfig(t, dir, c.text)
			addr := fmt.Sprintf("127.0.0.1:%d", spreadtest.FreePort(t))
			out, err := exec.Command(bin, "serve", "--addr", addr, "--config", config).CombinedOutput()
			if err == nil {
				t.Fatalf("exit 0 for %q", c.text)
			}
			assertOneErrorLine(t, string(out), c.want)
		})
	}
	out, err := exec.Command(bin, "serve", "--config", filepath.Join(dir, "missing.toml")).CombinedOutput()
	if err == nil {
		t.Fatal("exit 0 for a missing config file")
	}
	assertOneErrorLine(t, string(out), "no such file")
}
