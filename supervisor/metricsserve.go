package supervisor

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/rs/zerolog"
)

// --metrics-addr is the one part of the supervisor that anyone who can
// reach a TCP port can talk to, so what it may cost is bounded:
//   - at most maxMetricsConns connections are open at once; more wait in
//     the kernel's accept queue, where they hold no descriptor of ours.
//     The descriptors a restart needs (a socketpair, a pidfd, the slot
//     socket's duplicate) are therefore never taken by scrapers, and the
//     control socket keeps answering. (Go raises the soft RLIMIT_NOFILE
//     to the hard limit at start; that is all the room there is.)
//   - a connection must send its headers within metricsHeaderTimeout, a
//     reply must be written within metricsWriteTimeout, and an idle
//     keep-alive connection is closed after metricsIdleTimeout.
//   - the metrics are gathered at most once per metricsCacheTTL: a flood
//     of scrapes reads the status from the loop (and /proc) once a second,
//     not once per request.
const (
	maxMetricsConns      = 16
	metricsHeaderTimeout = 5 * time.Second
	metricsWriteTimeout  = 10 * time.Second
	metricsIdleTimeout   = 5 * time.Second
	metricsCacheTTL      = time.Second
)

// newMetricsServer is the control server's setup with the tighter
// timeouts of the metrics port.
func newMetricsServer(h http.Handler, log zerolog.Logger) *http.Server {
	srv := newControlServer(h, log, "metrics")
	srv.ReadHeaderTimeout = metricsHeaderTimeout
	srv.ReadTimeout = metricsHeaderTimeout // a scrape has no body
	srv.WriteTimeout = metricsWriteTimeout
	srv.IdleTimeout = metricsIdleTimeout
	return srv
}

// limitListener lets at most cap connections be open at once: Accept
// waits for a slot before it takes a connection from the kernel, and a
// connection gives its slot back when it is closed.
type limitListener struct {
	net.Listener
	slots chan struct{}
	done  chan struct{}
	once  sync.Once
}

func newLimitListener(ln net.Listener, n int) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, n), done: make(chan struct{})}
}

// Accept implements net.Listener.
func (l *limitListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
}

// Close implements net.Listener; it also ends an Accept waiting for a slot.
func (l *limitListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// cachedGatherer gathers from g at most once per ttl and hands every
// caller in between the same families, which promhttp only reads.
// Concurrent callers of a stale cache wait for one gathering.
type cachedGatherer struct {
	g   prometheus.Gatherer
	ttl time.Duration
	now func() time.Time

	mu  sync.Mutex
	at  time.Time
	mfs []*dto.MetricFamily
	err error
}

// Gather implements prometheus.Gatherer.
func (c *cachedGatherer) Gather() ([]*dto.MetricFamily, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); c.at.IsZero() || now.Sub(c.at) >= c.ttl || now.Before(c.at) {
		c.mfs, c.err = c.g.Gather()
		c.at = now
	}
	return c.mfs, c.err
}
