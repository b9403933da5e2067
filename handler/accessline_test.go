package handler

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAccessLineHoldsTheRequestAndItsDurationInMilliseconds(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	a, err := OpenAccessLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	start := time.Now().Add(-1500 * time.Millisecond)
	a.forSlot(2).record(start, "127.0.0.1:9", "POST", "/delay", 503, 17)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var line struct {
		Time     string  `json:"time"`
		Remote   string  `json:"remote"`
		Method   string  `json:"method"`
		Path     string  `json:"path"`
		Status   int     `json:"status"`
		Bytes    int     `json:"bytes"`
		Duration float64 `json:"duration_ms"`
		Slot     int     `json:"slot"`
	}
	if err := json.Unmarshal(b, &line); err != nil {
		t.Fatalf("line %q: %v", b, err)
	}
	if line.Remote != "127.0.0.1:9" || line.Method != "POST" || line.Path != "/delay" || line.Status != 503 || line.Bytes != 17 || line.Slot != 2 {
		t.Fatalf("line %+v does not hold the request", line)
	}
	if line.Duration < 1500 || line.Duration > 60000 {
		t.Fatalf("duration_ms %v for a request started 1.5 s ago", line.Duration)
	}
	at, err := time.Parse(accessTimeFormat, line.Time)
	if err != nil || time.Since(at) > time.Minute || time.Since(at) < 0 {
		t.Fatalf("time %q (%v) is not now in RFC 3339 with milliseconds", line.Time, err)
	}
	if a.forSlot(0) == nil || (*AccessLog)(nil).forSlot(0) != nil {
		t.Fatal("forSlot: a log must give a line writer, no log none")
	}
}

func TestAccessLogReopenMovesToTheNewFileAtThePath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "access.log")
	a, err := OpenAccessLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	l := a.forSlot(0)
	l.record(time.Now(), "r", "GET", "/before", 200, 0)
	rotated := filepath.Join(dir, "access.log.1")
	if err := os.Rename(path, rotated); err != nil {
		t.Fatal(err)
	}
	if err := a.Reopen(); err != nil {
		t.Fatalf("Reopen after a rotation: %v", err)
	}
	l.record(time.Now(), "r", "GET", "/after", 200, 0)
	old, _ := os.ReadFile(rotated)
	cur, _ := os.ReadFile(path)
	if !strings.Contains(string(old), "/before") || strings.Contains(string(old), "/after") || !strings.Contains(string(cur), "/after") {
		t.Fatalf("rotated file %q, new file %q", old, cur)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("new file: %v %v, want mode 0644", fi, err)
	}
}

func TestAccessLogCloseClosesItsFileButNeverStdout(t *testing.T) {
	a, err := OpenAccessLog(filepath.Join(t.TempDir(), "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Write([]byte("x\n")); err == nil {
		t.Fatal("the file still takes writes after Close")
	}
	out, err := OpenAccessLog("-")
	if err != nil {
		t.Fatal(err)
	}
	if out.f != os.Stdout {
		t.Fatal(`"-" is not standard output`)
	}
	if err := out.Reopen(); err != nil || out.f != os.Stdout {
		t.Fatalf("Reopen of standard output: %v", err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stdout.Stat(); err != nil {
		t.Fatalf("closing the access log closed standard output: %v", err)
	}
	if _, err := OpenAccessLog(filepath.Join(t.TempDir(), "missing", "access.log")); err == nil || !strings.HasPrefix(err.Error(), "access log: ") {
		t.Fatalf("open in a missing directory: %v", err)
	}
}
