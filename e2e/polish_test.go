package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/procfs"
	"github.com/spreadhttp/spread/internal/spreadtest"
)

// TestEveryDurationLogFieldNamesItsUnit reads the source: every zerolog
// Dur field of spread's own code is named *_ms (zerolog writes
// milliseconds, DurationFieldUnit), so `uptime=15337.68` no longer reads
// like hours.
func TestEveryDurationLogFieldNamesItsUnit(t *testing.T) {
	dur := regexp.MustCompile(`\.Dur\("([a-z_]+)"`)
	var files []string
	for _, dir := range []string{".", "supervisor", "handler", "prefork", "reuseport"} {
		found, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		files = append(files, found...)
	}
	seen := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range dur.FindAllStringSubmatch(string(src), -1) {
			seen++
			if !strings.HasSuffix(m[1], "_ms") {
				t.Errorf("%s: log field %q is a duration without its unit: name it %s_ms", f, m[1], m[1])
			}
		}
	}
	if seen < 10 {
		t.Fatalf("found %d Dur fields: the scan proved nothing", seen)
	}
}

// TestLogLinesCarryMillisecondsAndDurationsInMs checks the running
// server's lines: sub-second timestamps, and after_ms and uptime_ms where
// a bare after or uptime used to be.
func TestLogLinesCarryMillisecondsAndDurationsInMs(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "1")
	pids := s.WaitOnline(1, 10*time.Second)
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	spreadtest.Eventually(t, 10*time.Second, "the killed worker's exit in the log", func() bool {
		return len(s.Log().Events("worker exited")) > 0
	})
	stamp := regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(Z|[+-]\d\d:\d\d)$`)
	for _, msg := range []string{"supervisor started", "worker online", "worker exited"} {
		evs := s.Log().Events(msg)
		if len(evs) == 0 {
			t.Fatalf("no %q event", msg)
		}
		if ts := fmt.Sprint(evs[0]["time"]); !stamp.MatchString(ts) {
			t.Errorf("%q: time %q has no milliseconds", msg, ts)
		}
	}
	for msg, field := range map[string]string{"worker online": "after_ms", "server ready": "after_ms", "worker exited": "uptime_ms"} {
		ev := s.Log().Events(msg)[0]
		if _, ok := ev[field].(float64); !ok {
			t.Errorf("%q has no number %s: %v", msg, field, ev)
		}
		if _, ok := ev[strings.TrimSuffix(field, "_ms")]; ok {
			t.Errorf("%q still has a duration field without its unit: %v", msg, ev)
		}
	}
}

// TestStatusTotalsSurviveAReloadAndAgreeWithMetrics: the status summary
// counts every slot's workers, past and present, as /metrics does, so a
// reload does not drop it to 0; counts are labelled by class in --json;
// CPU is a percentage; "1 request" is singular.
func TestStatusTotalsSurviveAReloadAndAgreeWithMetrics(t *testing.T) {
	mport := spreadtest.FreePort(t)
	s := spreadtest.Start(t, "--workers", "2", "--metrics-addr", fmt.Sprint(mport))
	s.WaitOnline(2, 10*time.Second)
	get := func(n int) {
		for i := range n {
			if r, err := s.Get("/"); err != nil || r.Status != 200 {
				t.Fatalf("request %d: %v %+v", i, err, r)
			}
		}
	}
	get(1)
	if out, _ := s.CLI("status"); !strings.Contains(out, ", 1 request,") {
		t.Fatalf("status after one request does not say \"1 request\":\n%s", out)
	}
	get(19)
	if out, code := s.CLI("reload"); code != 0 {
		t.Fatalf("spread reload: %d %s", code, out)
	}
	get(5)
	out, code := s.CLI("status")
	if code != 0 || !strings.Contains(out, ", 25 requests,") {
		t.Fatalf("status after 20 requests, a reload and 5 more does not say 25 requests:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^0 .* [0-9]+\.[0-9]%$`).MatchString(out) {
		t.Errorf("the CPU column is not a percentage:\n%s", out)
	}
	raw, _ := s.CLI("status", "--json")
	var doc struct {
		Workers []struct {
			Slot       int                        `json:"slot"`
			Counts     map[string]json.RawMessage `json:"counts"`
			CPUPercent *float64                   `json:"cpu_percent"`
		} `json:"workers"`
	}
	if err := json.Unmarshal([]byte(raw), &doc); err != nil || len(doc.Workers) == 0 {
		t.Fatalf("status --json: %v\n%s", err, raw)
	}
	var classes map[string]uint64
	if err := json.Unmarshal(doc.Workers[0].Counts["status"], &classes); err != nil || len(classes) != 5 {
		t.Fatalf("counts.status is not labelled by class: %s (%v)", doc.Workers[0].Counts["status"], err)
	}
	if _, ok := classes["2xx"]; !ok || doc.Workers[0].CPUPercent == nil {
		t.Fatalf("counts.status %v lacks 2xx, or cpu_percent is missing:\n%s", classes, raw)
	}
	st := statusOf(t, s)
	perSlot := map[int]uint64{}
	for _, w := range st.Workers {
		perSlot[w.Slot] = w.SlotRequests.Requests()
	}
	var total uint64
	for _, n := range perSlot {
		total += n
	}
	fams := parseMetrics(t, &http.Client{Timeout: 5 * time.Second}, fmt.Sprintf("http://127.0.0.1:%d/metrics", mport))
	var metric float64
	for _, m := range fams["spread_requests_total"].GetMetric() {
		metric += m.GetCounter().GetValue()
	}
	if total != 25 || metric != 25 {
		t.Fatalf("after 25 requests the status's slot totals sum to %d and /metrics to %v", total, metric)
	}
}

// TestScaleWaitReturnsOnceDoneAndFailsWithTheReason: `spread scale
// --wait N` returns when N workers are online (up and down), and exits 1
// naming the slot and why when a new slot's worker cannot start.
func TestScaleWaitReturnsOnceDoneAndFailsWithTheReason(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "1", "--max-workers", "4")
	s.WaitOnline(1, 10*time.Second)
	for _, n := range []int{3, 1} {
		out, code := s.CLI("scale", "--wait", fmt.Sprint(n))
		if code != 0 {
			t.Fatalf("spread scale --wait %d exited %d: %s", n, code, out)
		}
		st := statusOf(t, s)
		if st.Online != n || len(st.Workers) != n {
			t.Fatalf("spread scale --wait %d returned with %d online and %d rows", n, st.Online, len(st.Workers))
		}
	}

	// A command that cannot run in any slot but the first.
	requireCommand(t, "python3", "python3")
	script := `[ "$SPREAD_SLOT" = 0 ] || { echo "slot $SPREAD_SLOT refuses" >&2; exit 3; }; exec python3 examples/python/server.py`
	e := spreadtest.Start(t, "--workers", "1", "--ready", "notify", "--", "sh", "-c", script)
	e.WaitOnline(1, 15*time.Second)
	out, code := e.CLI("scale", "--wait", "2")
	if code != 1 || !strings.Contains(out, "slot 1") || !strings.Contains(out, "code 3") {
		t.Fatalf("spread scale --wait 2 to a slot that cannot start: exit %d, want 1 naming slot 1 and code 3:\n%s", code, out)
	}
}

// TestProcessesAreNamedInPs: argv[0] of the supervisor and of each
// built-in worker says what it is, as nginx's processes do.
func TestProcessesAreNamedInPs(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "2")
	pids := s.WaitOnline(2, 10*time.Second)
	argv0 := func(pid int) string {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			t.Fatal(err)
		}
		return strings.SplitN(string(raw), "\x00", 2)[0]
	}
	if got, want := argv0(s.Pid()), "spread: supervisor "+s.Addr; got != want {
		t.Errorf("supervisor's argv[0] is %q, want %q", got, want)
	}
	st := statusOf(t, s)
	for _, w := range st.Workers {
		if got, want := argv0(w.Pid), fmt.Sprintf("spread: worker %d %s", w.Slot, s.Addr); got != want {
			t.Errorf("worker %d's argv[0] is %q, want %q", w.Pid, got, want)
		}
	}
	if len(st.Workers) != len(pids) {
		t.Fatalf("%d status rows for %d workers", len(st.Workers), len(pids))
	}
}

// TestTheSupervisorNeverLooksExitedWhileItRenamesItself: the re-exec
// that names the supervisor runs on the main thread. An execve from any
// other thread makes the kernel show the main thread, and so the pid, as
// a zombie (state Z in /proc/PID/stat) until the exec is done, and a
// script that polls the pid while spread starts (ps, a drill's liveness
// check) takes spread for dead. The window is short: it is watched
// through many starts.
func TestTheSupervisorNeverLooksExitedWhileItRenamesItself(t *testing.T) {
	const starts = 40
	addr := fmt.Sprintf("127.0.0.1:%d", spreadtest.FreePort(t))
	zombie := 0
	i := 0
	for ; i < starts && zombie == 0; i++ {
		s := spreadtest.StartAt(t, addr, "--workers", "1", "--spare=false", "--steer", "off")
		deadline := time.Now().Add(10 * time.Second)
		for {
			if st, err := procfs.ReadStat(s.Pid()); err == nil && st.State == 'Z' && st.Threads > 1 {
				zombie++
			}
			arg0, err := procfs.ReadArg0(s.Pid())
			if err != nil || strings.HasPrefix(arg0, "spread: supervisor") {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("start %d: the supervisor is still %q after 10s", i, arg0)
			}
		}
		if s.Exited() {
			t.Fatalf("start %d: the supervisor exited", i)
		}
		s.Signal(syscall.SIGKILL)
		s.Wait(10 * time.Second)
	}
	if zombie > 0 {
		t.Fatalf("start %d of %d: the supervisor showed state Z with live threads while it renamed itself", i, starts)
	}
}

// TestTheSupervisorHoldsNoThreadPerWorker: it watches its children's exits
// through pidfds in the runtime's poller, not with one OS thread blocked
// in waitid per child (which made 25 threads for 16 workers), and it
// still reports how each exited.
func TestTheSupervisorHoldsNoThreadPerWorker(t *testing.T) {
	s := spreadtest.Start(t, "--workers", "2", "--max-workers", "10")
	s.WaitOnline(2, 10*time.Second)
	threads := func() int {
		entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", s.Pid()))
		if err != nil {
			t.Fatal(err)
		}
		return len(entries)
	}
	before := threads()
	if out, code := s.CLI("scale", "--wait", "10"); code != 0 {
		t.Fatalf("spread scale --wait 10 exited %d: %s", code, out)
	}
	pids := s.WaitOnline(10, 10*time.Second)
	if after := threads(); after-before > 3 {
		t.Fatalf("%d threads with 2 workers, %d with 10: a thread per worker", before, after)
	}
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	spreadtest.Eventually(t, 10*time.Second, "the killed worker's exit in the log", func() bool {
		for _, ev := range s.Log().Events("worker exited") {
			if ev["pid"] == float64(pids[0]) {
				if ev["signal"] != "SIGKILL" {
					t.Fatalf("worker %d was SIGKILLed; the log says %v", pids[0], ev)
				}
				return true
			}
		}
		return false
	})
}
