package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/spreadhttp/spread/internal/spreadtest"
	"github.com/spreadhttp/spread/reuseport"
	"github.com/spreadhttp/spread/supervisor"
)

func statusOf(t *testing.T, s *spreadtest.Server) supervisor.Status {
	t.Helper()
	out, code := s.CLI("status", "--json")
	if code != 0 {
		t.Fatalf("spread status --json exited %d: %s", code, out)
	}
	var st supervisor.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status JSON: %v\n%s", err, out)
	}
	return st
}

func TestStatusCountsEveryRequestExactlyOnce(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "2")
	s.WaitOnline(2, 10*time.Second)
	const k = 300
	for i := range k {
		if r, err := s.Get("/"); err != nil || r.Status != 200 {
			t.Fatalf("request %d: %v %d", i, err, r.Status)
		}
		if i%50 == 0 {
			// Browsers' favicon requests are not page requests.
			if r, err := s.Get("/favicon.ico"); err != nil || r.Status != 204 {
				t.Fatalf("favicon: %v %d", err, r.Status)
			}
		}
	}
	st := statusOf(t, s)
	var sum uint64
	for _, w := range st.Workers {
		sum += *w.Requests
		if w.Counts.Status[1] != *w.Requests {
			t.Fatalf("worker %d: %d requests but %d 2xx", w.Pid, *w.Requests, w.Counts.Status[1])
		}
	}
	if sum != k {
		t.Fatalf("status counts sum to %d, want exactly %d: %+v", sum, k, st.Workers)
	}
	table, code := s.CLI("status")
	if code != 0 || !strings.Contains(table, "SHARE") || !strings.Contains(table, "load spread") {
		t.Fatalf("spread status table (exit %d):\n%s", code, table)
	}
	t.Logf("\n%s", table)
}

func TestScaleTTOUAndReloadFromTheCLI(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "2", "--max-workers", "3")
	first := s.WaitOnline(2, 10*time.Second)

	if out, code := s.CLI("scale", "3"); code != 0 {
		t.Fatalf("spread scale 3: exit %d: %s", code, out)
	}
	three := s.WaitOnline(3, 10*time.Second)
	// Scaling stops at --max-workers.
	if out, code := s.CLI("scale", "9"); code != 0 || !strings.Contains(out, "scaling to 3 workers (capped") {
		t.Fatalf("spread scale 9 with --max-workers 3: exit %d: %s", code, out)
	}
	s.Signal(syscall.SIGTTIN)
	waitEvents(t, s, "signal received", 1, 5*time.Second)
	if got := s.WaitOnline(3, 5*time.Second); fmt.Sprint(got) != fmt.Sprint(three) {
		t.Fatalf("TTIN at --max-workers changed the workers from %v to %v", three, got)
	}

	s.Signal(syscall.SIGTTOU)
	two := s.WaitOnline(2, 15*time.Second)
	var retired int
	for _, p := range three {
		if !contains(two, p) {
			retired = p
		}
	}
	ev := findEvent(t, s, "worker exited", retired)
	if ev["reason"] != "scaled down" || ev["code"] != float64(0) {
		t.Fatalf("retired worker %d: exit %v, want a drained exit 0 as scaled down", retired, ev)
	}
	if fmt.Sprint(two) != fmt.Sprint(first) {
		t.Fatalf("TTOU retired an original worker: %v then %v", first, two)
	}

	if out, code := s.CLI("reload"); code != 0 {
		t.Fatalf("spread reload: exit %d: %s", code, out)
	}
	waitEvents(t, s, "reload finished", 1, 20*time.Second)
	after := s.WaitOnline(2, 15*time.Second)
	for _, p := range after {
		if contains(two, p) {
			t.Fatalf("worker %d survived spread reload", p)
		}
	}
	if out, code := s.CLI("stop"); code != 0 {
		t.Fatalf("spread stop: exit %d: %s", code, out)
	}
	if code := s.Wait(15 * time.Second); code != 0 {
		t.Fatalf("exit %d after spread stop", code)
	}
}

// findEvent returns the log event msg about pid.
func findEvent(t *testing.T, s *spreadtest.Server, msg string, pid int) map[string]any {
	t.Helper()
	var found map[string]any
	spreadtest.Eventually(t, 5*time.Second, fmt.Sprintf("%q for pid %d", msg, pid), func() bool {
		for _, ev := range s.Log().Events(msg) {
			if ev["pid"] == float64(pid) {
				found = ev
				return true
			}
		}
		return false
	})
	return found
}

func unixClient(path string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		Dial: func(_, _ string) (net.Conn, error) { return net.Dial("unix", path) },
	}}
}

func parseMetrics(t *testing.T, c *http.Client, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics is not Prometheus text: %v", err)
	}
	return fams
}

func TestControlSocketIsPrivateAndMetricsParse(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "ctl.sock")
	mport := spreadtest.FreePort(t)
	s := spreadtest.Start(t, "--workers", "2", "--control-socket", sock, "--metrics-addr", strconv.Itoa(mport))
	s.WaitOnline(2, 10*time.Second)
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Type() != os.ModeSocket || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket mode %v, want a socket with 0600", fi.Mode())
	}
	for range 20 {
		s.Get("/")
	}
	for _, url := range []string{"http://spread/metrics", fmt.Sprintf("http://127.0.0.1:%d/metrics", mport)} {
		c := unixClient(sock)
		if !strings.HasPrefix(url, "http://spread") {
			c = &http.Client{Timeout: 5 * time.Second}
		}
		fams := parseMetrics(t, c, url)
		req, ok := fams["spread_requests_total"]
		if !ok {
			t.Fatalf("%s: no spread_requests_total", url)
		}
		var total float64
		slots := map[string]bool{}
		for _, m := range req.Metric {
			total += m.GetCounter().GetValue()
			for _, l := range m.Label {
				if l.GetName() == "slot" {
					slots[l.GetValue()] = true
				}
			}
		}
		if total != 20 || len(slots) != 2 {
			t.Fatalf("%s: spread_requests_total sums to %v over slots %v, want 20 over 2", url, total, slots)
		}
	}
	assertLoopbackOnly(t, s.Pid(), mport)
}

// assertLoopbackOnly checks that the metrics port given as a bare port is
// bound to 127.0.0.1 alone. A dial to 127.0.0.1 cannot tell: it also
// succeeds on a wildcard bind. So the kernel's own table of listeners
// (/proc/net/tcp, tcp6) must show pid's sockets on the port at 127.0.0.1
// and nowhere else, and a dial to another local address, 127.0.0.2, which
// a wildcard bind would answer, must be refused.
func assertLoopbackOnly(t *testing.T, pid, port int) {
	t.Helper()
	holders, err := reuseport.Holders(fmt.Sprintf(":%d", port))
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("127.0.0.1:%d", port)
	var ours int
	for _, h := range holders {
		if h.Addr != want {
			t.Errorf("metrics port: %s listens on %s, want only %s", h, h.Addr, want)
		}
		if h.Pid == pid {
			ours++
		}
	}
	if ours == 0 {
		t.Fatalf("metrics port: spread (pid %d) holds no listener on port %d; holders %v", pid, port, holders)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.2:%d", port), time.Second); err == nil {
		c.Close()
		t.Errorf("metrics port answers on 127.0.0.2:%d: it is not bound to 127.0.0.1 alone", port)
	}
}

func TestCLIWithoutServerSaysSoInOneLine(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "none.sock")
	for _, args := range [][]string{{"status"}, {"status", "--json"}, {"reload"}, {"scale", "2"}, {"stop"}} {
		cmd := exec.Command(spreadtest.Binary(t), append([]string{args[0], "--control-socket", sock}, args[1:]...)...)
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Fatalf("spread %v exited 0 with no server", args)
		}
		line := strings.TrimSpace(string(out))
		if strings.Count(line, "\n") != 0 || !strings.Contains(line, "no spread server is running") || !strings.Contains(line, sock) {
			t.Fatalf("spread %v said %q; want one line naming %s", args, line, sock)
		}
	}
}

func TestSystemdHearsReadyReloadingReadyStopping(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	pidfile := filepath.Join(t.TempDir(), "spread.pid")
	s := spreadtest.StartEnv(t, []string{"NOTIFY_SOCKET=" + path}, "--workers", "2", "--pidfile", pidfile)
	s.WaitOnline(2, 10*time.Second)

	var states []string
	expect := func(want string) {
		t.Helper()
		deadline := time.After(15 * time.Second)
		for {
			select {
			case m := <-msgs:
				for _, line := range strings.Split(m, "\n") {
					if line == "READY=1" || line == "RELOADING=1" || line == "STOPPING=1" {
						states = append(states, line)
					}
				}
				if len(states) > 0 && states[len(states)-1] == want {
					return
				}
			case <-deadline:
				t.Fatalf("no %s; systemd heard %v", want, states)
			}
		}
	}
	expect("READY=1")
	b, err := os.ReadFile(pidfile)
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(s.Pid()) {
		t.Fatalf("pidfile after READY: %q, %v; want %d", b, err, s.Pid())
	}
	// A second server naming the same pidfile is refused.
	other := spreadtest.Start(t, "--workers", "1", "--pidfile", pidfile)
	if code := other.Wait(5 * time.Second); code == 0 {
		t.Fatal("a second spread took over a live spread's pidfile")
	}
	assertOneErrorLine(t, other.Log().String(), "pidfile")

	s.Signal(syscall.SIGHUP)
	expect("RELOADING=1")
	expect("READY=1")
	s.Signal(syscall.SIGTERM)
	expect("STOPPING=1")
	if code := s.Wait(15 * time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	want := "READY=1 RELOADING=1 READY=1 STOPPING=1"
	if got := strings.Join(states, " "); got != want {
		t.Fatalf("systemd heard %q, want %q", got, want)
	}
	if _, err := os.Stat(pidfile); !os.IsNotExist(err) {
		t.Fatalf("pidfile still there after exit: %v", err)
	}
}

func TestScalingNeverGoesBelowOneWorker(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "1")
	only := s.WaitOnline(1, 10*time.Second)
	if out, code := s.CLI("scale", "0"); code == 0 || !strings.Contains(out, "at least 1") {
		t.Fatalf("spread scale 0: exit %d: %s", code, out)
	}
	s.Signal(syscall.SIGTTOU)
	waitEvents(t, s, "signal received", 1, 5*time.Second)
	s.Signal(syscall.SIGTTIN)
	two := s.WaitOnline(2, 10*time.Second)
	if !contains(two, only[0]) {
		t.Fatalf("TTOU at one worker retired it: %v then %v", only, two)
	}
	if n := len(s.Log().Events("worker exited")); n != 0 {
		t.Fatalf("%d workers exited; TTOU at one worker must retire none", n)
	}
}
