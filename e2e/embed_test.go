package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/spreadtest"
	"github.com/spreadhttp/spread/supervisor"
)

// TestEmbeddedProgramIsSupervisedCountedAndStopsCleanly runs
// examples/embed, a program whose main is one prefork.ListenAndServe call:
// two workers answer, plain `spread status --addr` finds it and counts its
// requests, and SIGTERM stops it with exit code 0.
func TestEmbeddedProgramIsSupervisedCountedAndStopsCleanly(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "embed")
	if out, err := exec.Command("go", "build", "-o", bin, "./examples/embed").CombinedOutput(); err != nil {
		t.Fatalf("build examples/embed: %v\n%s", err, out)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", spreadtest.FreePort(t))
	cmd := exec.Command(bin, "-addr", addr, "-workers", "2")
	log := &spreadtest.Log{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		if t.Failed() {
			t.Logf("embed log:\n%s", log)
		}
	})

	seen := map[int]bool{}
	const n = 200
	spreadtest.Eventually(t, 15*time.Second, "both workers answering", func() bool {
		r, err := spreadtest.Get(spreadtest.Client(), "http://"+addr+"/")
		if err == nil && r.Status == 200 {
			seen[r.WorkerPid()] = true
		}
		return len(seen) == 2
	})
	for range n {
		if r, err := spreadtest.Get(spreadtest.Client(), "http://"+addr+"/"); err != nil || r.Status != 200 {
			t.Fatalf("request: %v %v", r.Status, err)
		}
	}
	out, err := exec.Command(spreadtest.Binary(t), "status", "--addr", addr, "--json").Output()
	if err != nil {
		t.Fatalf("spread status --addr %s: %v", addr, err)
	}
	var st supervisor.Status
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	var total uint64
	for _, w := range st.Workers {
		if w.Requests == nil || !seen[w.Pid] {
			t.Fatalf("status row %+v: not one of the answering workers, or not counted", w)
		}
		total += *w.Requests
	}
	if total < n {
		t.Fatalf("status counts %d requests, want at least %d", total, n)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no exit 15s after SIGTERM")
	}
}
