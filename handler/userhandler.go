package handler

import (
	"net/http"

	"github.com/valyala/fasthttp"
)

// A program's own handler, served with what the built-in routes have:
// request counting through the Recorder, the careful drain (Connection:
// close on every reply once Shutdown began, idle connections closed only
// when nothing is waiting in their socket), and the header and idle
// limits. The X-Worker header and the built-in routes are not added.

// serveUser answers with the program's http.Handler, and returns the
// status and body bytes it sent, for the access log.
func (e *netHTTP) serveUser(w http.ResponseWriter, r *http.Request) (status, bytes int) {
	sw := &statusWriter{ResponseWriter: w, e: e}
	e.user.ServeHTTP(sw, r)
	if !sw.wrote {
		// A handler that writes nothing answers 200 with an empty body.
		sw.WriteHeader(http.StatusOK)
	}
	e.rec.RequestDone(sw.status)
	return sw.status, sw.bytes
}

// statusWriter sees the status a handler sends, and adds Connection: close
// to it while the server drains.
type statusWriter struct {
	http.ResponseWriter
	e      *netHTTP
	status int
	bytes  int
	wrote  bool
}

// WriteHeader implements http.ResponseWriter.
func (w *statusWriter) WriteHeader(code int) {
	if w.wrote {
		w.ResponseWriter.WriteHeader(code) // net/http logs the superfluous call
		return
	}
	if code >= 200 {
		// 1xx informational headers are not the reply.
		w.wrote, w.status = true, code
		w.e.closeIfDraining(w.Header())
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// Unwrap lets http.ResponseController reach Flush, Hijack and deadlines.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// serveUser answers with the program's fasthttp.RequestHandler. fasthttp
// writes the reply after the handler returns, so the drain check and the
// count come after it.
func (e *fastHTTP) serveUser(ctx *fasthttp.RequestCtx) {
	e.user(ctx)
	e.closeIfDraining(ctx)
	e.rec.RequestDone(ctx.Response.StatusCode())
}
