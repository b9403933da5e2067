package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
)

// The control interface is HTTP on a Unix socket of mode 0600 in a 0700
// directory: only the user running spread (and root) can reach it, with no
// token to leak. It serves:
//
//	GET  /status             Status as JSON
//	GET  /metrics            Prometheus text format
//	POST /reload             start a rolling restart
//	POST /scale?workers=N    set the number of workers
//	POST /stop               stop gracefully

// control is the hook serving the control socket and, when asked, /metrics
// on TCP.
type control struct {
	path    string
	srv     *http.Server
	metrics *http.Server
}

func (s *supervisor) openControl(path, metricsAddr string) (*control, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := checkControlDir(path); err != nil {
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
	reg := prometheus.NewRegistry()
	reg.MustRegister(&collector{s: s})
	metrics := promhttp.HandlerFor(&cachedGatherer{g: reg, ttl: metricsCacheTTL, now: time.Now}, promhttp.HandlerOpts{})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, r *http.Request) {
		var st Status
		if !s.call(func() { st = s.status() }) {
			http.Error(w, "stopped", http.StatusServiceUnavailable)
			return
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("POST /reload", func(w http.ResponseWriter, r *http.Request) {
		s.call(s.startReload)
		writeJSON(w, http.StatusAccepted, map[string]any{"reloading": true})
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
	mux.HandleFunc("POST /stop", func(w http.ResponseWriter, r *http.Request) {
		s.call(func() { s.stop("control socket", false) })
		writeJSON(w, http.StatusAccepted, map[string]any{"stopping": true})
	})
	c := &control{path: path, srv: newControlServer(mux)}
	go func() { _ = c.srv.Serve(ln) }()

	if metricsAddr != "" {
		mln, err := net.Listen("tcp", metricsAddr)
		if err != nil {
			c.close()
			return nil, fmt.Errorf("metrics address: %w", err)
		}
		mmux := http.NewServeMux()
		mmux.Handle("GET /metrics", metrics)
		c.metrics = newMetricsServer(mmux)
		go func() { _ = c.metrics.Serve(newLimitListener(mln, maxMetricsConns)) }()
		s.log.Info().Str("addr", mln.Addr().String()).Msg("metrics served")
	}
	s.log.Info().Str("path", path).Msg("control socket open")
	return c, nil
}

func newControlServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second, MaxHeaderBytes: 16 << 10}
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

func (c *control) ready(*supervisor) error { return nil }
func (c *control) changed(*supervisor)     {}
func (c *control) stopping(*supervisor)    {}
func (c *control) close() {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = c.srv.Shutdown(ctx)
	if c.metrics != nil {
		_ = c.metrics.Shutdown(ctx)
	}
	_ = os.Remove(c.path)
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

// Status fetches the server's status.
func (c *Client) Status() (Status, error) {
	var st Status
	err := c.do(http.MethodGet, "/status", &st)
	return st, err
}

// Reload starts a rolling restart.
func (c *Client) Reload() error { return c.do(http.MethodPost, "/reload", nil) }

// Scale sets the number of workers and returns the number granted (the
// request is clamped to [1, max-workers]).
func (c *Client) Scale(n int) (int, error) {
	var out struct {
		Workers int `json:"workers"`
	}
	err := c.do(http.MethodPost, "/scale?workers="+strconv.Itoa(n), &out)
	return out.Workers, err
}

// Stop asks the server to stop gracefully.
func (c *Client) Stop() error { return c.do(http.MethodPost, "/stop", nil) }
