package handler

import (
	"net/http"

	"github.com/valyala/fasthttp"
)

// A leaving server (Options.Leaving) fails its health check so that a load
// balancer takes it out of rotation before its sockets close. The answer
// carries Connection: close, so a balancer that keeps its check
// connections open opens a new one for the next check, and a client on a
// kept-alive connection is moved off before the drain.

// leavingPage is /healthz's answer while the server is leaving.
func leavingPage() page {
	return page{status: http.StatusServiceUnavailable, body: []byte("draining")}
}

func neverLeaving() bool { return false }

// replyHealth answers /healthz: 200, or 503 with Connection: close while
// the server is leaving.
func (e *netHTTP) replyHealth(w http.ResponseWriter, h http.Header) (status, bytes int) {
	if !e.leaving() {
		return e.reply(w, h, &e.health)
	}
	h["Connection"] = e.connClose
	return e.reply(w, h, &e.unhealthy)
}

// replyHealth answers /healthz: 200, or 503 with Connection: close while
// the server is leaving.
func (e *fastHTTP) replyHealth(ctx *fasthttp.RequestCtx) {
	if !e.leaving() {
		e.reply(ctx, &e.health)
		return
	}
	e.reply(ctx, &e.unhealthy)
	ctx.SetConnectionClose()
}
