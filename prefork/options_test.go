package prefork_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/spreadhttp/spread/handler"
	"github.com/spreadhttp/spread/prefork"
	"github.com/spreadhttp/spread/supervisor"
)

const addr = "127.0.0.1:8000"

// With no option, the server runs on its packages' defaults plus the two
// that spread serve adds: TCP_DEFER_ACCEPT and the default control socket.
func TestNoOptionMeansThePackagesDefaults(t *testing.T) {
	cfg, http, err := prefork.Settings(addr)
	if err != nil {
		t.Fatal(err)
	}
	d := supervisor.DefaultConfig()
	if cfg.Workers != d.Workers || cfg.WorkerTimeout != d.WorkerTimeout || cfg.MinUptime != d.MinUptime || cfg.Steer != d.Steer {
		t.Errorf("Settings: %+v, not DefaultConfig's", cfg)
	}
	if cfg.ControlSocket != supervisor.DefaultControlSocket(addr) {
		t.Errorf("control socket %q, want the default path %q", cfg.ControlSocket, supervisor.DefaultControlSocket(addr))
	}
	if cfg.Socket.DeferAccept != time.Second {
		t.Errorf("DeferAccept %s, want on (1s)", cfg.Socket.DeferAccept)
	}
	h := handler.DefaultOptions()
	if http.Engine != h.Engine || http.ReadHeaderTimeout != h.ReadHeaderTimeout || http.IdleTimeout != h.IdleTimeout || http.MaxHeaderBytes != h.MaxHeaderBytes {
		t.Errorf("HTTP settings %+v, not DefaultOptions'", http)
	}
}

func TestZeroTurnsOffWhatTheFlagTurnsOff(t *testing.T) {
	cfg, _, err := prefork.Settings(addr, prefork.WorkerTimeout(0), prefork.MinUptime(0), prefork.TCPDeferAccept(false), prefork.NoControlSocket())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.WorkerTimeout != supervisor.Off || cfg.MinUptime != supervisor.Off {
		t.Errorf("WorkerTimeout(0), MinUptime(0) gave %s and %s, want supervisor.Off", cfg.WorkerTimeout, cfg.MinUptime)
	}
	if cfg.Socket.DeferAccept != 0 || cfg.ControlSocket != "" {
		t.Errorf("TCPDeferAccept(false), NoControlSocket() gave %s and %q", cfg.Socket.DeferAccept, cfg.ControlSocket)
	}
}

// A value no server can run with is refused, named as its flag; so is a
// combination the packages cannot see alone.
func TestBadOptionsAreRefusedNamingTheFlag(t *testing.T) {
	cases := []struct {
		opts []prefork.Option
		want string
	}{
		{[]prefork.Option{prefork.Workers(0)}, "--workers must be at least 1, got 0"},
		{[]prefork.Option{prefork.GracefulTimeout(0)}, "--graceful-timeout must be positive"},
		{[]prefork.Option{prefork.IdleTimeout(0)}, "--idle-timeout must be positive"},
		{[]prefork.Option{prefork.Engine("gopher")}, "--engine must be one of"},
		{[]prefork.Option{prefork.TLSCert("c.pem")}, "--tls-cert and --tls-key go together"},
		{[]prefork.Option{prefork.TLSCert("c.pem"), prefork.TLSKey("k.pem"), prefork.Exec("app")}, "terminates TLS itself"},
		{[]prefork.Option{prefork.AccessLog("a.log"), prefork.Exec("app")}, "--access-log applies to the built-in workers"},
		{[]prefork.Option{prefork.MaxRequests(5), prefork.Exec("app")}, "--max-requests needs request counts"},
	}
	for _, c := range cases {
		_, _, err := prefork.Settings(addr, c.opts...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Settings = %v, want an error with %q", err, c.want)
		}
	}
	// An Exec worker serves no HTTP: the HTTP settings are not its.
	if _, _, err := prefork.Settings(addr, prefork.Exec("app"), prefork.Engine("gopher")); err != nil {
		t.Errorf("Exec with an HTTP setting it does not use: %v", err)
	}
}

func TestLogToWritesMillisecondTimes(t *testing.T) {
	var buf bytes.Buffer
	cfg, _, err := prefork.Settings(addr, prefork.LogTo(&buf))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Log.Info().Msg("hello")
	var line struct {
		Time    string `json:"time"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil || line.Message != "hello" {
		t.Fatalf("log line %q: %v", buf.String(), err)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000Z07:00", line.Time); err != nil {
		t.Fatalf("time %q has no milliseconds: %v", line.Time, err)
	}
}
