// Command plainhttp is the baseline of make bench: a single-process
// net/http hello server with no spread code in it, so that the cost of
// spread is measured against Go itself. It answers every path like
// spread's "/": the same body and Content-Type, without X-Worker.
//
//	plainhttp -addr 127.0.0.1:8000
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8000", "TCP address to serve")
	flag.Parse()
	body := []byte("Hello World from worker process " + strconv.Itoa(os.Getpid()))
	hello := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write(body)
	}
	if err := http.ListenAndServe(*addr, http.HandlerFunc(hello)); err != nil {
		fmt.Fprintf(os.Stderr, "plainhttp: %v\n", err)
		os.Exit(1)
	}
}
