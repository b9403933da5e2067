// Command embed is a Go program served by spread's library: one call to
// prefork.ListenAndServe makes it a supervisor with one worker process per
// core, each serving the handler below on a shared SO_REUSEPORT port,
// counted in `spread status --addr ADDR`, drained with no lost request on
// SIGTERM, reloaded slot by slot on SIGHUP. Copy it as a start.
//
//	go build -o bin/embed ./examples/embed && bin/embed -addr :8000
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/spreadhttp/spread/prefork"
	"github.com/spreadhttp/spread/supervisor"
)

func main() {
	addr := flag.String("addr", ":8000", "TCP address to serve")
	// A few of spread serve's flags, with its defaults, so scripts/drill.sh
	// can drive it; each is the prefork option of the same name.
	d := supervisor.DefaultConfig()
	workers := flag.Int("workers", d.Workers, "worker processes")
	workerTimeout := flag.Duration("worker-timeout", d.WorkerTimeout, "heartbeat silence after which a worker is hung (0: off)")
	maxAge := flag.Duration("max-age", 0, "recycle a worker older than this (0: never)")
	maxAgeJitter := flag.Duration("max-age-jitter", 0, "add a random 0..D to each worker's --max-age")
	flag.Parse()

	// This runs in the supervisor and in every worker: keep it cheap.
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Worker", strconv.Itoa(os.Getpid()))
		fmt.Fprintf(w, "hello from %d\n", os.Getpid())
	})
	mux.HandleFunc("/delay", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		time.Sleep(time.Duration(min(max(ms, 0), 60_000)) * time.Millisecond)
		w.Header().Set("X-Worker", strconv.Itoa(os.Getpid()))
		fmt.Fprintf(w, "hello from %d\n", os.Getpid())
	})

	err := prefork.ListenAndServe(context.Background(), *addr, mux, prefork.Workers(*workers),
		prefork.WorkerTimeout(*workerTimeout), prefork.MaxAge(*maxAge), prefork.MaxAgeJitter(*maxAgeJitter))
	if err != nil {
		fmt.Fprintln(os.Stderr, "embed:", err)
		os.Exit(1)
	}
}
