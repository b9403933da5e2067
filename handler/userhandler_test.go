package handler

import (
	"net/http"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// startUser serves a program's own handler (h for net/http, fh for
// fasthttp) on a loopback listener; /slow signals entered, then answers
// once release is closed.
func startUser(t *testing.T, engine string, entered chan<- struct{}, release <-chan struct{}) *running {
	t.Helper()
	return start(t, engine, nil, func(o *Options) {
		switch engine {
		case engineNetHTTP:
			o.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/missing":
					http.NotFound(w, r)
				case "/empty": // writes nothing: an implicit 200
				case "/slow":
					entered <- struct{}{}
					<-release
					w.Write([]byte("slow"))
				default:
					w.Write([]byte("mine"))
				}
			})
		case engineFastHTTP:
			o.FastHandler = func(ctx *fasthttp.RequestCtx) {
				switch string(ctx.Path()) {
				case "/missing":
					ctx.SetStatusCode(404)
				case "/empty":
				case "/slow":
					entered <- struct{}{}
					<-release
					ctx.WriteString("slow")
				default:
					ctx.WriteString("mine")
				}
			}
		}
	})
}

func TestProgramsHandlerIsCountedAndDrainedLikeTheRoutes(t *testing.T) {
	for _, engine := range Engines {
		t.Run(testName(engine), func(t *testing.T) {
			entered, release := make(chan struct{}, 1), make(chan struct{})
			r := startUser(t, engine, entered, release)
			c := dial(t, r.addr)
			for _, want := range []struct {
				path   string
				status int
			}{{"/", 200}, {"/missing", 404}, {"/empty", 200}} {
				c.send(want.path)
				if resp, _ := c.response(); resp.StatusCode != want.status {
					t.Fatalf("%s: status %d, want %d", want.path, resp.StatusCode, want.status)
				}
			}
			if r.rec.requests.Load() != 3 || r.rec.byStatus[404].Load() != 1 || r.rec.byStatus[200].Load() != 2 {
				t.Fatalf("counted %d requests (%d 200, %d 404), want 3 (2, 1)",
					r.rec.requests.Load(), r.rec.byStatus[200].Load(), r.rec.byStatus[404].Load())
			}
			// A request in flight when the drain begins is answered with
			// Connection: close, and the server then stops.
			c.send("/slow")
			select {
			case <-entered:
			case <-time.After(5 * time.Second):
				t.Fatal("the slow request never reached the handler")
			}
			drained := r.shutdown(5 * time.Second)
			waitFor(t, "the drain to begin", 2*time.Second, r.srv.draining.Load)
			close(release)
			resp, body := c.response()
			if resp.StatusCode != 200 || body != "slow" || !resp.Close {
				t.Fatalf("in-flight reply %d %q close=%v, want 200 \"slow\" with Connection: close", resp.StatusCode, body, resp.Close)
			}
			c.expectClosed()
			if err := waitResult(t, "Shutdown", drained, 5*time.Second); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
		})
	}
}

func TestHandlerOfTheOtherEngineIsRefused(t *testing.T) {
	if _, err := New(Options{Engine: engineFastHTTP, Handler: http.NotFoundHandler()}); err == nil {
		t.Fatal("an http.Handler was accepted for fasthttp")
	}
	if _, err := New(Options{Engine: engineNetHTTP, FastHandler: func(*fasthttp.RequestCtx) {}}); err == nil {
		t.Fatal("a fasthttp handler was accepted for net/http")
	}
}
