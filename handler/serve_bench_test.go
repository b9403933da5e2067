package handler

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"

	"github.com/valyala/fasthttp"
)

// BenchmarkServe is the whole hot path over loopback: accept, the conn
// wrapper and table, the ConnState events, the handler and the counting,
// for each engine, beside the same engine serving the same page with no
// spread code at all ("plain"). The ns/op of an engine over its plain twin,
// in one run, is what spread adds per request; -cpuprofile shows where.
//
// keepalive sends every request of a client on one connection;
// conn-per-request opens a connection per request, so that accept and the
// connection table's add and remove are on every request.
func BenchmarkServe(b *testing.B) {
	for _, subject := range []string{"plain-net-http", "net-http", "plain-fasthttp", "fasthttp"} {
		for _, mode := range []string{"keepalive", "conn-per-request"} {
			b.Run(subject+"/"+mode, func(b *testing.B) {
				addr := serveForBench(b, subject)
				benchClients(b, addr, mode == "keepalive")
			})
		}
	}
}

// serveForBench serves subject on a loopback listener until b ends and
// returns its address.
func serveForBench(b *testing.B, subject string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	body := []byte(hello)
	switch subject {
	case "plain-net-http":
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", contentType)
			_, _ = w.Write(body)
		})}
		go srv.Serve(ln)
		b.Cleanup(func() { srv.Close() })
	case "plain-fasthttp":
		ct := []byte(contentType)
		srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.Response.Header.SetContentTypeBytes(ct)
			ctx.Response.SetBodyRaw(body)
		}, NoDefaultServerHeader: true}
		go srv.Serve(ln)
		b.Cleanup(func() { srv.Shutdown() })
	default:
		engine := engineNetHTTP
		if subject == "fasthttp" {
			engine = engineFastHTTP
		}
		srv, err := New(Options{Slot: testSlot, Pid: testPid, Engine: engine, Recorder: &countingRecorder{}})
		if err != nil {
			b.Fatal(err)
		}
		go srv.Serve(ln)
		b.Cleanup(func() { srv.Shutdown(context.Background()) })
	}
	return ln.Addr().String()
}

var benchRequest = []byte("GET / HTTP/1.1\r\nHost: bench\r\n\r\n")

// benchClients sends GET / from parallel clients that read each response
// whole before the next request: a raw client, so that the profile is the
// server's.
func benchClients(b *testing.B, addr string, keepAlive bool) {
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		var c net.Conn
		var r *bufio.Reader
		for pb.Next() {
			if c == nil {
				var err error
				if c, err = net.Dial("tcp", addr); err != nil {
					b.Error(err)
					return
				}
				r = bufio.NewReader(c)
			}
			if _, err := c.Write(benchRequest); err != nil {
				b.Error(err)
				return
			}
			if err := readResponse(r); err != nil {
				b.Error(err)
				return
			}
			if !keepAlive {
				c.Close()
				c = nil
			}
		}
		if c != nil {
			c.Close()
		}
	})
}

// readResponse reads one response with a Content-Length body.
func readResponse(r *bufio.Reader) error {
	length := -1
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		const cl = "Content-Length: "
		if len(line) > len(cl) && string(line[:len(cl)]) == cl {
			if length, err = strconv.Atoi(string(line[len(cl) : len(line)-2])); err != nil {
				return err
			}
		}
	}
	if length < 0 {
		return io.ErrUnexpectedEOF
	}
	_, err := r.Discard(length)
	return err
}
