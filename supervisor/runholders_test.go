package supervisor

import (
	"context"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// TestRunRefusesAPortAnotherProcessServes has a sleep process hold a
// listening socket, as another server would, and checks that Run refuses
// the port before it starts anything.
func TestRunRefusesAPortAnotherProcessServes(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	holder := exec.Command("sleep", "60")
	holder.ExtraFiles = append(holder.ExtraFiles, f)
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { holder.Process.Kill(); _ = holder.Wait() })
	f.Close()
	ln.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = Run(ctx, Config{
		Addr:          addr,
		Workers:       1,
		Command:       "/bin/false",
		Steer:         SteerOff,
		ControlSocket: filepath.Join(shortTempDir(t), "control.sock"),
		Log:           zerolog.New(zerolog.NewTestWriter(t)),
	})
	want := "address " + addr + " is already served by pid " + strconv.Itoa(holder.Process.Pid)
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Run on a port sleep holds: %v; want it to start %q", err, want)
	}
}
