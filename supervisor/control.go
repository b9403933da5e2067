package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/spreadhttp/spread/reuseport"
)

// The control interface is HTTP on a Unix socket of mode 0600 in a 0700
// directory: only the user running spread (and root) can reach it, with no
// token to leak. It serves:
//
//	GET  /status             StatusReply as JSON
//	GET  /metrics            Prometheus text format
//	POST /reload             start a rolling restart; answers its ID
//	POST /scale?workers=N    set the number of workers
//	POST /stop               stop gracefully

// control is the hook serving the control socket and, when asked, /metrics
// on TCP.
type control struct {
	path    string
	srv     *http.Server
	metrics *http.Server
	// ln and mln are the listeners, kept for an upgrade's handover;
	// handedOver leaves the socket file to the new supervisor.
	ln, mln    net.Listener
	handedOver bool
}

func (s *supervisor) openControl(path, metricsAddr string) (*control, error) {
	if s.inherited != nil && s.inherited.Control >= 0 {
		return s.serveControl(path, metricsAddr, nil)
	}
	uid, gid := s.cfg.controlOwner()
	if err := makeControlDir(filepath.Dir(path), uid, gid); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := checkControlDirOf(path, uid); err != nil {
		return nil, err
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return nil, fmt.Errorf("control socket %s is in use: another spread is running (stop it, or pick another --addr or --control-socket)", path)
	}
	// Nobody answers: a socket left by a spread that was killed.
	_ = os.Remove(path)
	// The umask covers the moment between bind and chmod.
	old := syscall.Umask(0o177)
	ln, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if uid != os.Getuid() {
		if err := os.Chown(path, uid, gid); err != nil {
			ln.Close()
			return nil, fmt.Errorf("control socket: %w", err)
		}
	}
	return s.serveControl(path, metricsAddr, ln)
}

// serveControl serves the control socket on ln, or on the listeners an
// upgrade handed over when ln is nil.
func (s *supervisor) serveControl(path, metricsAddr string, ln net.Listener) (*control, error) {
	var mln net.Listener
	if ln == nil {
		var err error
		if ln, err = inheritedListener(s.inherited.Control, "control socket"); err != nil {
			return nil, err
		}
		if mln, err = inheritedListener(s.inherited.Metrics, "metrics listener"); err != nil {
			ln.Close()
			return nil, err
		}
		if ul, ok := ln.(*net.UnixListener); ok {
			// The file is this supervisor's now: remove it at the end.
			ul.SetUnlinkOnClose(true)
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{s: s})
	metrics := promhttp.HandlerFor(&cachedGatherer{g: reg, ttl: metricsCacheTTL, now: time.Now}, promhttp.HandlerOpts{})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		var st StatusReply
		if !s.call(func() { st = StatusReply{Status: s.status(), LastReload: s.lastReload} }) {
			http.Error(w, "stopped", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		var id int
		s.call(func() { id = s.startReload() })
		if id == 0 {
			http.Error(w, "the server is stopping", http.StatusConflict)
			return
		}
		writeJSON(w, http.StatusAccepted, map[string]any{"reload": id})
	})
	mux.HandleFunc("POST /scale", func(w http.ResponseWriter, r *http.Request) {
		n, err := scaleRequest(r.URL.RawQuery)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var got int
		s.call(func() { got, err = s.scaleTo(n) })
		if err != nil {
			http.Error(w, err.Error(), http.StatusConflict)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"workers": got})
	})
	mux.HandleFunc("POST /upgrade", func(w http.ResponseWriter, r *http.Request) {
		reply := make(chan UpgradeResult, 1)
		if !s.call(func() { s.startUpgrade(reply) }) {
			http.Error(w, "stopped", http.StatusServiceUnavailable)
			return
		}
		select {
		case res := <-reply:
			code := http.StatusOK
			if res.Error != "" {
				code = http.StatusConflict
			}
			writeJSON(w, code, res)
		case <-r.Context().Done():
		}
	})
	mux.HandleFunc("POST /stop", func(w http.ResponseWriter, r *http.Request) {
		s.call(func() { s.stop("control socket", false) })
		writeJSON(w, http.StatusAccepted, map[string]any{"stopping": true})
	})
	c := &control{path: path, srv: newControlServer(mux, s.log, "control"), ln: ln}
	go func() { _ = c.srv.Serve(ln) }()

	if metricsAddr != "" || mln != nil {
		if mln == nil {
			var err error
			if mln, err = net.Listen("tcp", metricsAddr); err != nil {
				c.close()
				return nil, fmt.Errorf("metrics address: %w", err)
			}
		}
		c.mln = mln
		mmux := http.NewServeMux()
		mmux.Handle("GET /metrics", metrics)
		c.metrics = newMetricsServer(mmux, s.log)
		go func() { _ = c.metrics.Serve(newLimitListener(mln, maxMetricsConns)) }()
		s.log.Info().Str("addr", mln.Addr().String()).Msg("metrics served")
	}
	s.log.Info().Str("path", path).Msg("control socket open")
	return c, nil
}

// newControlServer returns the http.Server of the control socket or of
// the metrics address; name says which in its log events.
func newControlServer(h http.Handler, log zerolog.Logger, name string) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10,
		// Without an ErrorLog, net/http writes its errors ("http: Accept
		// error: … too many open files") with the standard logger, in
		// plain text, whatever --log-format says.
		ErrorLog: stdlog.New(httpErrorLog{log: log, server: name}, "", 0)}
}

// httpErrorLog turns the lines an http.Server logs into zerolog events.
type httpErrorLog struct {
	log    zerolog.Logger
	server string
}

// Write takes one line from a log.Logger.
func (l httpErrorLog) Write(p []byte) (int, error) {
	l.log.Error().Str("server", l.server).Str("detail", strings.TrimRight(string(p), "\n")).Msg("http server error")
	return len(p), nil
}

// MetricsAddr turns a --metrics-addr value into a listen address: a bare
// port (":9100" or "9100") means loopback, so metrics are never exposed to
// the network unless a host is named.
func MetricsAddr(v string) string {
	if v == "" {
		return ""
	}
	if !strings.Contains(v, ":") {
		v = ":" + v
	}
	if strings.HasPrefix(v, ":") {
		return "127.0.0.1" + v
	}
	return v
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (c *control) ready(*supervisor) error    { return nil }
func (c *control) workersChanged(*supervisor) {}
func (c *control) stopping(*supervisor)       {}
func (c *control) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if ul, ok := c.ln.(*net.UnixListener); ok && c.handedOver {
		ul.SetUnlinkOnClose(false)
	}
	_ = c.srv.Shutdown(ctx)
	if c.metrics != nil {
		_ = c.metrics.Shutdown(ctx)
	}
	if !c.handedOver {
		_ = os.Remove(c.path)
	}
}

// listenerFile and metricsFile duplicate the listeners for an upgrade's
// new supervisor; the caller closes them. nil when there is none.
func (c *control) listenerFile() *os.File { return listenerFile(c.ln) }
func (c *control) metricsFile() *os.File  { return listenerFile(c.mln) }

// listenerFile duplicates ln's descriptor into a file of its own, or
// returns nil. It is reuseport.File, not the listener's File method: that
// file's Fd, which os/exec calls on ExtraFiles, would switch the shared
// file description to blocking mode, and an Accept that enters the kernel
// in that moment parks there, out of reach of Close, so the handover or
// the stop would hang.
func listenerFile(ln net.Listener) *os.File {
	l, ok := ln.(reuseport.Listener)
	if !ok {
		return nil
	}
	f, err := reuseport.File(l)
	if err != nil {
		return nil
	}
	return f
}

// handOver stops serving the control socket and metrics, now served by
// the new supervisor of an upgrade, and leaves the socket file to it.
// Requests already being answered finish.
func (c *control) handOver(int) {
	c.handedOver = true
	if ul, ok := c.ln.(*net.UnixListener); ok {
		ul.SetUnlinkOnClose(false)
	}
	c.ln.Close()
	if c.mln != nil {
		c.mln.Close()
	}
}

// Client talks to a running server's control socket.
type Client struct {
	// Path is the control socket.
	Path string
	hc   *http.Client
}

// NewClient returns a client for the control socket at path.
func NewClient(path string) *Client {
	return &Client{Path: path, hc: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			c, err := dialControl(ctx, path)
			if err != nil {
				return nil, &dialFailure{err}
			}
			return c, nil
		}},
	}}
}

// ErrNoServer is returned when nothing answers on the control socket.
var ErrNoServer = errors.New("no spread server is running")

func (c *Client) do(method, path string, out any) error {
	req, err := http.NewRequest(method, "http://spread"+path, nil)
	if err != nil {
		return err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		var df *dialFailure
		if errors.As(err, &df) {
			return df.err // already one line that names the socket
		}
		return fmt.Errorf("control socket %s: %w", c.Path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(msg)))
	}
	if out == nil {
		return nil
	}
	// A status is a few KiB; the bound keeps a broken server from
	// filling the client's memory.
	return json.NewDecoder(io.LimitReader(resp.Body, maxControlReply)).Decode(out)
}

// StatusReply is what GET /status answers: the Status, and the outcome of
// the last rolling restart.
type StatusReply struct {
	Status
	// LastReload is nil until a reload has ended.
	LastReload *ReloadResult `json:"last_reload,omitempty"`
}

// Status fetches the server's status.
func (c *Client) Status() (StatusReply, error) {
	var st StatusReply
	err := c.do(http.MethodGet, "/status", &st)
	return st, err
}

// Reload starts a rolling restart, or queues one behind the running
// reload, and returns the ID of the reload that answers it (see
// ReloadResult.ID).
func (c *Client) Reload() (int, error) {
	var out struct {
		Reload int `json:"reload"`
	}
	err := c.do(http.MethodPost, "/reload", &out)
	return out.Reload, err
}

// WaitReload polls the status every interval until the reload numbered id
// has ended, and returns its outcome (or that of a later reload, if one
// ended before the poll saw it). It fails when the server stops first.
func (c *Client) WaitReload(id int, every time.Duration) (ReloadResult, error) {
	for {
		st, err := c.Status()
		switch {
		case err != nil:
			return ReloadResult{}, fmt.Errorf("waiting for reload %d: %w", id, err)
		case st.LastReload != nil && st.LastReload.ID >= id:
			return *st.LastReload, nil
		case st.Stopping:
			return ReloadResult{}, fmt.Errorf("the server is stopping: reload %d did not end", id)
		}
		time.Sleep(every)
	}
}

// Scale sets the number of workers and returns the number granted (the
// request is clamped to [1, max-workers]).
func (c *Client) Scale(n int) (int, error) {
	var out struct {
		Workers int `json:"workers"`
	}
	err := c.do(http.MethodPost, "/scale?workers="+strconv.Itoa(n), &out)
	return out.Workers, err
}

// Upgrade replaces the running supervisor with the binary now on disk and
// returns the new supervisor's pid once it serves; on failure the old one
// keeps running and the error says why.
func (c *Client) Upgrade() (int, error) {
	var res UpgradeResult
	req, err := http.NewRequest(http.MethodPost, "http://spread/upgrade", nil)
	if err != nil {
		return 0, err
	}
	// Starting a new generation of workers takes up to the start
	// timeout, past the client's default.
	hc := *c.hc
	hc.Timeout = 0
	resp, err := hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("control socket %s: %w", c.Path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
		return 0, errUpgradeUnsupported
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return 0, fmt.Errorf("upgrade: %s", resp.Status)
	}
	if res.Error != "" {
		return 0, errors.New("upgrade failed, the old supervisor keeps running: " + res.Error)
	}
	return res.Pid, nil
}

// Stop asks the server to stop gracefully.
func (c *Client) Stop() error { return c.do(http.MethodPost, "/stop", nil) }
