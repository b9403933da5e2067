package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/spreadtest"
)

// accessLines reads the JSON lines of an access log; none if it is absent.
func accessLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("access log line %q is not JSON: %v", sc.Text(), err)
		}
		lines = append(lines, m)
	}
	return lines
}

var accessTime = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)$`)

func TestAccessLogWritesALinePerRequestAndReopensOnSIGUSR1(t *testing.T) {
	for _, engine := range []string{"net/http", "fasthttp"} {
		t.Run(strings.ReplaceAll(engine, "/", ""), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "access.log")
			s := spreadtest.Start(t, "--workers", "2", "--engine", engine, "--access-log", path)
			pids := s.WaitOnline(2, 10*time.Second)

			type req struct {
				path   string
				status int
			}
			reqs := []req{{"/favicon.ico", 204}, {"/delay?ms=oops", 400}, {"/healthz", 200}}
			for range 20 {
				reqs = append(reqs, req{"/", 200})
			}
			bodies := map[string]int{}
			for _, r := range reqs {
				rep, err := s.Get(r.path)
				if err != nil || rep.Status != r.status {
					t.Fatalf("GET %s: %v %d", r.path, err, rep.Status)
				}
				bodies[strings.SplitN(r.path, "?", 2)[0]] = len(rep.Body)
			}
			var lines []map[string]any
			spreadtest.Eventually(t, 5*time.Second, fmt.Sprintf("%d access log lines", len(reqs)), func() bool {
				lines = accessLines(t, path)
				return len(lines) >= len(reqs)
			})
			if len(lines) != len(reqs) {
				t.Fatalf("%d access log lines for %d requests", len(lines), len(reqs))
			}
			statuses := map[float64]int{}
			for _, l := range lines {
				p, _ := l["path"].(string)
				want, known := bodies[p]
				switch {
				case !accessTime.MatchString(fmt.Sprint(l["time"])):
					t.Fatalf("time %v has no milliseconds: %v", l["time"], l)
				case !strings.HasPrefix(fmt.Sprint(l["remote"]), "127.0.0.1:"):
					t.Fatalf("remote: %v", l)
				case l["method"] != "GET" || !known:
					t.Fatalf("method or path: %v", l)
				case l["bytes"] != float64(want):
					t.Fatalf("bytes %v, want %d: %v", l["bytes"], want, l)
				case l["slot"] != float64(0) && l["slot"] != float64(1):
					t.Fatalf("slot: %v", l)
				}
				if d, ok := l["duration_ms"].(float64); !ok || d < 0 || d > 10_000 {
					t.Fatalf("duration_ms: %v", l)
				}
				statuses[l["status"].(float64)]++
			}
			if statuses[200] != 21 || statuses[204] != 1 || statuses[400] != 1 {
				t.Fatalf("statuses %v", statuses)
			}

			// logrotate: rename, then SIGUSR1 to the supervisor.
			rotated := path + ".1"
			if err := os.Rename(path, rotated); err != nil {
				t.Fatal(err)
			}
			s.Signal(syscall.SIGUSR1)
			spreadtest.Eventually(t, 5*time.Second, "both workers to reopen the access log", func() bool {
				n := 0
				for _, ev := range s.Log().Events("access log reopened") {
					if p, ok := ev["pid"].(float64); ok && contains(pids, int(p)) {
						n++
					}
				}
				return n == len(pids)
			})
			const more = 30
			for i := range more {
				if rep, err := s.Get("/"); err != nil || rep.Status != 200 {
					t.Fatalf("request %d after the rotation: %v %d", i, err, rep.Status)
				}
			}
			spreadtest.Eventually(t, 5*time.Second, fmt.Sprintf("%d lines in the new access log", more), func() bool {
				return len(accessLines(t, path)) >= more
			})
			if n, old := len(accessLines(t, path)), len(accessLines(t, rotated)); n != more || old != len(reqs) {
				t.Fatalf("after the rotation: %d lines in the new file (want %d), %d in the rotated one (want %d)", n, more, old, len(reqs))
			}
			seen := map[float64]bool{}
			for _, l := range accessLines(t, path) {
				seen[l["slot"].(float64)] = true
			}
			if !seen[0] || !seen[1] {
				t.Logf("only slots %v answered after the rotation; the kernel's hash picked one worker", seen)
			}
		})
	}
}

func TestUnwritableAccessLogIsOneLineError(t *testing.T) {
	bin := spreadtest.Binary(t)
	for _, args := range [][]string{
		{"--access-log", filepath.Join(t.TempDir(), "no-such-dir", "access.log")},
		{"--access-log", "-", "--", "true"},
	} {
		addr := fmt.Sprintf("127.0.0.1:%d", spreadtest.FreePort(t))
		out, err := exec.Command(bin, append([]string{"serve", "--addr", addr}, args...)...).CombinedOutput()
		if err == nil {
			t.Fatalf("exit 0 for %v", args)
		}
		assertOneErrorLine(t, string(out), "access")
	}
}
