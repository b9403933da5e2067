package handler

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/valyala/fasthttp"
)

// fakeWriter is a ResponseWriter that reuses one header map, so that what is
// measured is the handler and nothing else.
type fakeWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *fakeWriter) Header() http.Header { return w.h }
func (w *fakeWriter) WriteHeader(s int)   { w.status = s }
func (w *fakeWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	return len(p), nil
}

// helloNetHTTP returns the net/http handler and a function answering "/"
// once into a reused writer.
func helloNetHTTP(tb testing.TB) (*fakeWriter, func()) {
	srv, err := New(Options{Slot: testSlot, Pid: testPid, Engine: engineNetHTTP, Recorder: &countingRecorder{}})
	if err != nil {
		tb.Fatal(err)
	}
	e := srv.engine.(*netHTTP)
	w := &fakeWriter{h: make(http.Header)}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	return w, func() {
		clear(w.h)
		w.status, w.n = 0, 0
		e.ServeHTTP(w, req)
	}
}

// helloFastHTTP returns a reused RequestCtx for "/" and a function answering
// it once.
func helloFastHTTP(tb testing.TB) (*fasthttp.RequestCtx, func()) {
	srv, err := New(Options{Slot: testSlot, Pid: testPid, Engine: engineFastHTTP, Recorder: &countingRecorder{}})
	if err != nil {
		tb.Fatal(err)
	}
	e := srv.engine.(*fastHTTP)
	ctx := &fasthttp.RequestCtx{}
	ctx.Request.Header.SetMethod(fasthttp.MethodGet)
	ctx.Request.SetRequestURI("/")
	return ctx, func() {
		ctx.Response.Reset()
		e.handle(ctx)
	}
}

func TestHelloHandlerAllocatesNothing(t *testing.T) {
	t.Run("net-http", func(t *testing.T) {
		w, serve := helloNetHTTP(t)
		if allocs := testing.AllocsPerRun(1000, serve); allocs != 0 {
			t.Fatalf("net/http handler for / allocates %v times per request, want 0", allocs)
		}
		if w.status != 200 || w.n != len(hello) || w.h.Get("X-Worker") != xWorker ||
			w.h.Get("Content-Type") != contentType || w.h.Get("Content-Length") != "36" {
			t.Fatalf("answer: status %d, %d body bytes, header %v", w.status, w.n, w.h)
		}
	})
	t.Run("fasthttp", func(t *testing.T) {
		ctx, serve := helloFastHTTP(t)
		if allocs := testing.AllocsPerRun(1000, serve); allocs != 0 {
			t.Fatalf("fasthttp handler for / allocates %v times per request, want 0", allocs)
		}
		if ctx.Response.StatusCode() != 200 || string(ctx.Response.Body()) != hello ||
			string(ctx.Response.Header.Peek("X-Worker")) != xWorker ||
			string(ctx.Response.Header.ContentType()) != contentType {
			t.Fatalf("answer: %s", ctx.Response.String())
		}
	})
}

func BenchmarkHandler(b *testing.B) {
	b.Run("net-http", func(b *testing.B) {
		_, serve := helloNetHTTP(b)
		b.ReportAllocs()
		for b.Loop() {
			serve()
		}
	})
	b.Run("fasthttp", func(b *testing.B) {
		_, serve := helloFastHTTP(b)
		b.ReportAllocs()
		for b.Loop() {
			serve()
		}
	})
}
