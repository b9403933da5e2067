package prefork_test

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
	"github.com/valyala/fasthttp"

	"github.com/spreadhttp/spread/prefork"
	"github.com/spreadhttp/spread/supervisor"
)

// The examples' handlers, answered by the worker processes.
var (
	hello     = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hello from net/http") })
	fastHello = func(ctx *fasthttp.RequestCtx) { ctx.WriteString("hello from fasthttp") }
)

// TestMain is what an embedding program's main is: the same call in every
// process. The supervisor of each Example re-executes this test binary
// with -test.run=^$ and SPREAD_TEST_ENGINE, so that its workers serve the
// handler of that Example.
func TestMain(m *testing.M) {
	if !supervisor.IsWorker() {
		os.Exit(m.Run())
	}
	var err error
	if os.Getenv("SPREAD_TEST_ENGINE") == "fasthttp" {
		err = prefork.ListenAndServeFast(context.Background(), "", fastHello, prefork.Logger(zerolog.Nop()))
	} else {
		err = prefork.ListenAndServe(context.Background(), "", hello, prefork.Logger(zerolog.Nop()))
	}
	if err != nil {
		os.Exit(1)
	}
	os.Exit(0)
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr() string {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	return ln.Addr().String()
}

// get polls addr until a worker answers: readiness, not a sleep.
func get(addr string) string {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		resp, err := http.Get("http://" + addr + "/")
		if err != nil {
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return string(body)
	}
	return "no answer"
}

// Serve an http.Handler from two supervised worker processes.
func ExampleListenAndServe() {
	addr := freeAddr()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- prefork.ListenAndServe(ctx, addr, hello,
			prefork.Workers(2),
			prefork.Logger(zerolog.Nop()),
			prefork.NoControlSocket(),
			// Only for this example: the workers are this test binary.
			prefork.Supervise(func(c *supervisor.Config) { c.Args = []string{"-test.run=^$"} }))
	}()
	fmt.Println(get(addr))
	stop() // a graceful stop, as on SIGTERM
	fmt.Println("stopped:", <-done)
	// Output:
	// hello from net/http
	// stopped: <nil>
}

// Serve a fasthttp.RequestHandler the same way.
func ExampleListenAndServeFast() {
	os.Setenv("SPREAD_TEST_ENGINE", "fasthttp") // for TestMain's workers
	defer os.Unsetenv("SPREAD_TEST_ENGINE")
	addr := freeAddr()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- prefork.ListenAndServeFast(ctx, addr, fastHello,
			prefork.Workers(2),
			prefork.Logger(zerolog.Nop()),
			prefork.NoControlSocket(),
			prefork.Supervise(func(c *supervisor.Config) { c.Args = []string{"-test.run=^$"} }))
	}()
	fmt.Println(get(addr))
	stop()
	fmt.Println("stopped:", <-done)
	// Output:
	// hello from fasthttp
	// stopped: <nil>
}
