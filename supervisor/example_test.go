package supervisor_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/spreadhttp/spread/supervisor"
)

// TestMain plays the part of an embedding program's main: a process the
// supervisor started is a worker and serves; any other runs the tests.
func TestMain(m *testing.M) {
	if supervisor.IsWorker() {
		if err := supervisor.ServeWorker(&http.Server{
			Handler:           http.HandlerFunc(hello),
			ReadHeaderTimeout: 5 * time.Second,
		}); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func hello(w http.ResponseWriter, _ *http.Request) {
	io.WriteString(w, "hello from a spread worker")
}

// Supervise a program's own http.Handler. In a real program main starts
// with the IsWorker branch of TestMain above; Command and Args default to
// the program itself and its own arguments.
func Example() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()

	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- supervisor.Run(ctx, supervisor.Config{
			Addr:    addr,
			Workers: 2,
			Args:    []string{"-test.run=^$"}, // the test binary, as a worker
			Log:     zerolog.Nop(),
		})
	}()

	// Poll until a worker answers: readiness, not a sleep.
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(body))
		break
	}
	stop() // a graceful stop, as on SIGTERM
	select {
	case err := <-done:
		fmt.Println("stopped:", err)
	case <-time.After(20 * time.Second):
		fmt.Println("not stopped within 20s")
	}
	// Output:
	// hello from a spread worker
	// stopped: <nil>
}
