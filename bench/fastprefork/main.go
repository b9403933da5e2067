// Command fastprefork is a make bench subject: fasthttp's own prefork
// (github.com/valyala/fasthttp/prefork), one child per CPU on SO_REUSEPORT
// sockets, each with GOMAXPROCS 1, as spread's fasthttp engine runs. It
// answers every path like spread's "/": the same body and Content-Type,
// without X-Worker.
//
//	fastprefork -addr 127.0.0.1:8000
package main

import (
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fasthttp/prefork"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8000", "TCP address to serve")
	flag.Parse()
	body := []byte("Hello World from worker process " + strconv.Itoa(os.Getpid()))
	contentType := []byte("text/plain; charset=utf-8")
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.Response.Header.SetContentTypeBytes(contentType)
			ctx.Response.SetBodyRaw(body)
		},
		NoDefaultServerHeader: true,
	}
	p := prefork.New(srv)
	p.Reuseport = true
	if err := p.ListenAndServe(*addr); err != nil {
		fmt.Fprintf(os.Stderr, "fastprefork: %v\n", err)
		os.Exit(1)
	}
}
