package handler

import (
	"log"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// netHTTP answers the routes with net/http.
//
// It does not use http.Server.Shutdown or SetKeepAlivesEnabled(false): both
// close idle connections at once, without looking for a request already
// waiting in the socket. The Server drains instead, from the ConnState hook,
// a Connection: close header set by the handler (net/http closes the
// connection after such a reply) and the listener it closes itself.
type netHTTP struct {
	srv      *http.Server
	draining *atomic.Bool
	rec      Recorder
	user     http.Handler // the program's handler, nil for the routes
	access   *accessLine  // nil for no access log
	leaving  func() bool
	// tls is whether srv serves TLS, fixed at construction: srv.TLSConfig
	// itself is not read again, because http.Server writes it (HTTP/2
	// setup) while it serves, and one engine may serve several listeners.
	tls bool

	// Header values, shared by every response. net/http only reads them or
	// replaces the map entry, so the slices are never written to.
	xWorker     []string
	contentType []string
	connClose   []string

	hello, health, badDelay netHTTPPage
	unhealthy               netHTTPPage // /healthz while leaving
}

// netHTTPPage is a page with its Content-Length header value.
type netHTTPPage struct {
	page
	length []string
}

func newNetHTTPPage(p page) netHTTPPage {
	return netHTTPPage{page: p, length: []string{strconv.Itoa(len(p.body))}}
}

func newNetHTTP(o Options, p pages, draining *atomic.Bool, conns *connTable) *netHTTP {
	e := &netHTTP{
		draining:    draining,
		rec:         o.Recorder,
		user:        o.Handler,
		access:      o.AccessLog.forSlot(o.Slot),
		leaving:     o.Leaving,
		xWorker:     []string{p.xWorker},
		contentType: []string{contentType},
		connClose:   []string{"close"},
		hello:       newNetHTTPPage(p.hello),
		health:      newNetHTTPPage(p.health),
		unhealthy:   newNetHTTPPage(p.leaving),
		badDelay:    newNetHTTPPage(p.badDelay),
	}
	e.srv = &http.Server{
		Handler:           e,
		ReadHeaderTimeout: o.ReadHeaderTimeout,
		IdleTimeout:       o.IdleTimeout,
		// net/http answers heads up to its MaxHeaderBytes plus its slack;
		// this makes that sum o.MaxHeaderBytes, as in fasthttp.
		MaxHeaderBytes: o.MaxHeaderBytes - netHTTPHeaderSlack,
		ErrorLog:       log.New(newEngineLog(o.Log, engineNetHTTP), "", 0),
		TLSConfig:      o.TLS.Clone(),
		ConnState: func(c net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				conns.opened(c)
			case http.StateActive:
				conns.active(c)
			case http.StateIdle:
				conns.idle(c)
			case http.StateHijacked, http.StateClosed:
				conns.closed(c)
			}
		},
	}
	e.tls = e.srv.TLSConfig != nil
	return e
}

func (e *netHTTP) serve(ln net.Listener) error {
	if e.tls {
		// ServeTLS adds h2 and http/1.1 to ALPN and serves HTTP/2 itself.
		return e.srv.ServeTLS(ln, "", "")
	}
	return e.srv.Serve(ln)
}

// ServeHTTP answers the routes, and writes the access log line if there
// is an access log.
func (e *netHTTP) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if e.access == nil {
		e.answer(w, r)
		return
	}
	start := time.Now()
	status, n := e.answer(w, r)
	e.access.record(start, r.RemoteAddr, r.Method, r.URL.Path, status, n)
}

// answer answers the routes and returns the status and body size sent. For
// "/" it allocates nothing itself: the header values and the body are
// precomputed, and assigned into the header map as they are.
func (e *netHTTP) answer(w http.ResponseWriter, r *http.Request) (status, bytes int) {
	if e.user != nil {
		return e.serveUser(w, r)
	}
	h := w.Header()
	h["X-Worker"] = e.xWorker
	switch r.URL.Path {
	case pathFavicon:
		e.closeIfDraining(h)
		w.WriteHeader(http.StatusNoContent)
		return http.StatusNoContent, 0
	case pathHealth:
		return e.replyHealth(w, h)
	case pathDelay:
		ms, ok := delayMillis(r.URL.RawQuery)
		if !ok {
			return e.reply(w, h, &e.badDelay)
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		return e.reply(w, h, &e.hello)
	default:
		return e.reply(w, h, &e.hello)
	}
}

func (e *netHTTP) reply(w http.ResponseWriter, h http.Header, p *netHTTPPage) (status, bytes int) {
	h["Content-Type"] = e.contentType
	h["Content-Length"] = p.length
	e.closeIfDraining(h)
	w.WriteHeader(p.status)
	// A failed write means the client is gone; net/http drops the connection.
	_, _ = w.Write(p.body)
	e.rec.RequestDone(p.status)
	return p.status, len(p.body)
}

// closeIfDraining asks net/http to close the connection after this reply
// once Shutdown has begun. It is checked just before the header is written,
// so a /delay that began before Shutdown still closes.
func (e *netHTTP) closeIfDraining(h http.Header) {
	if e.draining.Load() {
		h["Connection"] = e.connClose
	}
}
