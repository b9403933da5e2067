package handler

import (
	"crypto/tls"
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// fastHTTP answers the routes with fasthttp.
//
// fasthttp.Server.ShutdownWithContext is not used: it closes idle keep-alive
// connections without looking for a request already in the socket, drops a
// request that arrives on a connection it has claimed, and on a context
// timeout leaves the remaining connections running. The Server drains
// instead, exactly as for net/http: from the ConnState hook, a
// SetConnectionClose in the handler (fasthttp closes the connection after
// such a reply) and the listener it closes itself.
type fastHTTP struct {
	srv      *fasthttp.Server
	draining *atomic.Bool
	rec      Recorder
	user     fasthttp.RequestHandler // the program's handler, nil for the routes
	tls      *tls.Config             // nil for plain HTTP
	access   *accessLine             // nil for no access log
	leaving  func() bool

	xWorker     []byte
	contentType []byte

	hello, health, badDelay page
	unhealthy               page // /healthz while leaving
}

var headerXWorker = []byte("X-Worker")

func newFastHTTP(o Options, p pages, draining *atomic.Bool, conns *connTable) *fastHTTP {
	e := &fastHTTP{
		draining:    draining,
		rec:         o.Recorder,
		user:        o.FastHandler,
		tls:         o.TLS,
		access:      o.AccessLog.forSlot(o.Slot),
		leaving:     o.Leaving,
		xWorker:     []byte(p.xWorker),
		contentType: []byte(contentType),
		hello:       p.hello,
		health:      p.health,
		unhealthy:   p.leaving,
		badDelay:    p.badDelay,
	}
	e.srv = &fasthttp.Server{
		Handler: e.handler(),
		// fasthttp has no headers-only timeout: its ReadTimeout covers the
		// whole request read, and the wait for the first request on a new
		// connection.
		ReadTimeout: o.ReadHeaderTimeout,
		IdleTimeout: o.IdleTimeout,
		// A request head must fit in the read buffer, so this bounds it
		// exactly; a larger one is refused with 431.
		ReadBufferSize: o.MaxHeaderBytes,
		// Same headers as net/http: no Server header, and no default
		// Content-Type on the 204.
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		Logger:                newEngineLog(o.Log, engineFastHTTP),
		ConnState: func(c net.Conn, st fasthttp.ConnState) {
			switch st {
			case fasthttp.StateNew:
				conns.opened(c)
			case fasthttp.StateActive:
				conns.active(c)
			case fasthttp.StateIdle:
				conns.idle(c)
			case fasthttp.StateHijacked, fasthttp.StateClosed:
				conns.closed(c)
			}
		},
	}
	if e.access != nil {
		e.srv.Handler = e.handleLogged
	}
	return e
}

func (e *fastHTTP) serve(ln net.Listener) error {
	if e.tls != nil {
		ln = tlsListener(ln, e.tls)
	}
	return e.srv.Serve(ln)
}

// handler is the program's handler when it gave one, else the routes.
func (e *fastHTTP) handler() fasthttp.RequestHandler {
	if e.user != nil {
		return e.serveUser
	}
	return e.handle
}

// handle answers the routes. For "/" it allocates nothing itself: the header
// values and the body are precomputed, and the body is handed over without a
// copy.
func (e *fastHTTP) handle(ctx *fasthttp.RequestCtx) {
	ctx.Response.Header.SetCanonical(headerXWorker, e.xWorker)
	path := ctx.Path()
	switch {
	case string(path) == pathFavicon:
		e.closeIfDraining(ctx)
		ctx.SetStatusCode(fasthttp.StatusNoContent)
	case string(path) == pathHealth:
		e.replyHealth(ctx)
	case string(path) == pathDelay:
		ms, ok := delayMillis(ctx.URI().QueryString())
		if !ok {
			e.reply(ctx, &e.badDelay)
			return
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		e.reply(ctx, &e.hello)
	default:
		e.reply(ctx, &e.hello)
	}
}

func (e *fastHTTP) reply(ctx *fasthttp.RequestCtx, p *page) {
	ctx.SetStatusCode(p.status)
	ctx.Response.Header.SetContentTypeBytes(e.contentType)
	ctx.Response.SetBodyRaw(p.body)
	e.closeIfDraining(ctx)
	e.rec.RequestDone(p.status)
}

// closeIfDraining asks fasthttp to close the connection after this reply
// once Shutdown has begun. It is checked after any /delay wait, so a /delay
// that began before Shutdown still closes.
func (e *fastHTTP) closeIfDraining(ctx *fasthttp.RequestCtx) {
	if e.draining.Load() {
		ctx.SetConnectionClose()
	}
}
