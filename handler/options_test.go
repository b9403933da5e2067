package handler

import (
	"net/http"
	"strings"
	"testing"
)

func TestDefaultOptionsAreValidAndWhatNewFillsIn(t *testing.T) {
	d := DefaultOptions()
	if err := d.Validate(); err != nil {
		t.Fatalf("DefaultOptions do not validate: %v", err)
	}
	if err := (Options{}).Validate(); err == nil {
		t.Fatal("a zero Options validated as it stands: its zero timeouts cannot run")
	}
	if _, err := New(Options{}); err != nil {
		t.Fatalf("New fills no defaults: %v", err)
	}
}

// Validate names the setting as the flag that sets it, in one line.
func TestValidateNamesTheFlag(t *testing.T) {
	cases := []struct {
		change func(*Options)
		want   string
	}{
		{func(o *Options) { o.Engine = "gopher" }, `--engine must be one of net/http, fasthttp, got "gopher"`},
		{func(o *Options) { o.ReadHeaderTimeout = 0 }, "--read-header-timeout must be positive, got 0s"},
		{func(o *Options) { o.IdleTimeout = -1 }, "--idle-timeout must be positive"},
		{func(o *Options) { o.MaxHeaderBytes = 4096 }, "--max-header-bytes must lie within 4097 and 1048576, got 4096"},
		{func(o *Options) { o.Engine, o.Handler = engineFastHTTP, http.NotFoundHandler() }, "an http.Handler needs the net/http engine"},
	}
	for _, tc := range cases {
		o := DefaultOptions()
		tc.change(&o)
		err := o.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Validate = %v, want one line with %q", err, tc.want)
		}
	}
}
