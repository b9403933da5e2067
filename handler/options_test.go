package handler

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestNewChecksItsOptions(t *testing.T) {
	h := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	fh := fasthttp.RequestHandler(func(*fasthttp.RequestCtx) {})
	for _, c := range []struct {
		name string
		opts Options
		want string // "" for accepted
	}{
		{"negative read header timeout", Options{ReadHeaderTimeout: -time.Second}, "timeouts must not be negative"},
		{"negative idle timeout", Options{IdleTimeout: -time.Second}, "timeouts must not be negative"},
		{"zero timeouts mean the defaults", Options{}, ""},
		{"the smallest header limit", Options{MaxHeaderBytes: MinHeaderBytes}, ""},
		{"the largest header limit", Options{MaxHeaderBytes: MaxHeaderBytesLimit}, ""},
		{"header limit below", Options{MaxHeaderBytes: MinHeaderBytes - 1}, "MaxHeaderBytes must lie within"},
		{"header limit above", Options{MaxHeaderBytes: MaxHeaderBytesLimit + 1}, "MaxHeaderBytes must lie within"},
		{"http.Handler on net/http", Options{Handler: h}, ""},
		{"http.Handler on fasthttp", Options{Handler: h, Engine: engineFastHTTP}, "an http.Handler needs the net/http engine, not fasthttp"},
		{"fasthttp handler on fasthttp", Options{FastHandler: fh, Engine: engineFastHTTP}, ""},
		{"fasthttp handler on net/http", Options{FastHandler: fh}, "a fasthttp.RequestHandler needs the fasthttp engine, not net/http"},
	} {
		_, err := New(c.opts)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: New = %v, want %q", c.name, err, c.want)
		}
	}
}

func TestNewFillsInTheDefaults(t *testing.T) {
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := s.engine.(*netHTTP)
	if e.srv.ReadHeaderTimeout != defaultReadHeaderTimeout || e.srv.IdleTimeout != defaultIdleTimeout {
		t.Fatalf("timeouts %v/%v, want the defaults %v/%v", e.srv.ReadHeaderTimeout, e.srv.IdleTimeout, defaultReadHeaderTimeout, defaultIdleTimeout)
	}
	if e.leaving() {
		t.Fatal("a server with no Leaving func is leaving")
	}
}
