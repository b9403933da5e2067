package main

import (
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"

	"github.com/spreadhttp/spread/supervisor"
)

// FuzzStatusClient feeds `spread status` whatever a control socket might
// answer: the client decodes it over a real Unix socket, and the table is
// printed from whatever decoded. Neither may panic.
func FuzzStatusClient(f *testing.F) {
	for _, s := range []string{
		`{"pid":1,"addr":":8000","slots":2,"online":2,"workers":[{"slot":0,"pid":10,"state":"online","requests":5,"counts":{"open":1}},{"slot":1,"pid":0,"state":"restarting","requests":null,"queue":-1,"last_exit":{"pid":9,"code":-1,"signal":"SIGKILL","reason":"crashed"}}]}`,
		`{"workers":[{"requests":18446744073709551615},{"requests":18446744073709551615}]}`,
		`{"workers":[{"uptime_seconds":1e308,"cpu_seconds":-1e308,"rss_bytes":18446744073709551615}]}`,
		`{"uptime_seconds":NaN}`, `null`, `[]`, `{`, ``, `{"workers":null}`,
	} {
		f.Add([]byte(s))
	}
	var (
		mu   sync.Mutex
		body []byte
	)
	sock := filepath.Join(f.TempDir(), "ctl.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		f.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		b := body
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	})}
	go func() { _ = srv.Serve(ln) }()
	f.Cleanup(func() { srv.Close() })
	client := supervisor.NewClient(sock)

	f.Fuzz(func(t *testing.T, answer []byte) {
		mu.Lock()
		body = answer
		mu.Unlock()
		st, err := client.Status()
		if err != nil {
			return
		}
		printStatus(io.Discard, st.Status)
	})
}
