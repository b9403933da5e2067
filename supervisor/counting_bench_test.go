package supervisor

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	"github.com/spreadhttp/spread/handler"
)

// BenchmarkCountingOverhead serves GET / over loopback keep-alive
// connections with and without scoreboard counting, in one run, so the two
// figures share the machine's noise. Compare the ns/op of off and on: the
// issue's bar is under 2% of throughput.
func BenchmarkCountingOverhead(b *testing.B) {
	board, err := newScoreboard(4)
	if err != nil {
		b.Fatal(err)
	}
	defer board.close()
	for _, engine := range handler.Engines {
		for _, counting := range []bool{false, true} {
			name := engine + "/off"
			opts := handler.Options{Engine: engine}
			if counting {
				name = engine + "/on"
				opts.Recorder = &Counters{e: board.entry(board.take())}
			}
			b.Run(name, func(b *testing.B) { benchServe(b, opts) })
		}
	}
}

func benchServe(b *testing.B, opts handler.Options) {
	srv, err := handler.New(opts)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Shutdown(context.Background())
	url := "http://" + ln.Addr().String() + "/"
	tr := &http.Transport{MaxIdleConnsPerHost: 64}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
}

// BenchmarkCounters is the counting itself: what one request adds to a
// worker's hot path when its connection carries one request.
func BenchmarkCounters(b *testing.B) {
	board, err := newScoreboard(1)
	if err != nil {
		b.Fatal(err)
	}
	defer board.close()
	c := &Counters{e: board.entry(board.take())}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.ConnOpened()
			c.RequestDone(200)
			c.ConnClosed()
		}
	})
}
