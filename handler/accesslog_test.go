package handler

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestAccessLogReopenFailureKeepsWritingTheOldFile(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "logs")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	a, err := OpenAccessLog(filepath.Join(dir, "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	l := a.forSlot(3)
	l.record(time.Now(), "127.0.0.1:1", "GET", "/", 200, 5)

	// The path's directory is gone: Reopen cannot open it again.
	moved := filepath.Join(root, "moved")
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	if err := a.Reopen(); err == nil {
		t.Fatal("Reopen succeeded with the directory gone")
	}
	l.record(time.Now(), "127.0.0.1:1", "GET", "/after", 404, 0)
	b, err := os.ReadFile(filepath.Join(moved, "access.log"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[1], `"path":"/after","status":404,"bytes":0,`) || !strings.HasSuffix(lines[1], `"slot":3}`) {
		t.Fatalf("old file holds:\n%s", b)
	}
}
