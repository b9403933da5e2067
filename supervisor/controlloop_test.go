package supervisor

import (
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// These drills drive the control socket's handlers and the Client against
// a supervisor on fake workers (fakeworker_test.go): the test goroutine
// plays the loop, running each call the handlers hand it.

// controlHarness is a loop harness whose supervisor serves a control
// socket in a temporary directory.
func controlHarness(t *testing.T, cfg Config) (*loopHarness, *Client) {
	t.Helper()
	// A short directory keeps the socket's path under the 108 bytes a
	// Unix address holds.
	dir, err := os.MkdirTemp("", "spc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg.ControlSocket = filepath.Join(dir, "run", "control.sock")
	h := newLoopHarness(t, cfg, always(healthy))
	h.until("every worker online", time.Second, h.online)
	return h, NewClient(cfg.ControlSocket)
}

// ask runs fn, a client request, in a goroutine of its own while the test
// goroutine serves the loop's calls, and returns fn's error.
func (h *loopHarness) ask(fn func() error) error {
	h.t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- fn() }()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case err := <-errc:
			return err
		case call := <-h.s.calls:
			call()
			h.ended = h.ended || h.s.settled()
			h.settle()
		case <-deadline:
			h.t.Fatal("a control request got no answer within 10s")
		}
	}
}

func TestControlSocketIsPrivateAndRefusesASecondServer(t *testing.T) {
	h, c := controlHarness(t, Config{Workers: 1})
	fi, err := os.Stat(c.Path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("control socket mode %s, want a socket of mode 0600", fi.Mode())
	}
	if di, err := os.Stat(filepath.Dir(c.Path)); err != nil || di.Mode().Perm() != 0o700 {
		t.Errorf("control directory: %v, mode %v, want 0700", err, di.Mode())
	}
	second := newSupervisor(h.s.cfg, h.s.board)
	if _, err := second.openControl(c.Path, ""); err == nil || !strings.Contains(err.Error(), "is in use") {
		t.Fatalf("a second control socket on the same path: %v, want an in-use error", err)
	}
	h.s.closeHooks()
	if _, err := os.Stat(c.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control socket still there after close: %v", err)
	}
	if _, err := c.Status(); err == nil {
		t.Error("status answered after the control socket closed")
	}
}

func TestControlStatusScaleAndReloadThroughTheClient(t *testing.T) {
	h, c := controlHarness(t, Config{Workers: 2, MaxWorkers: 3})
	var st StatusReply
	if err := h.ask(func() (err error) { st, err = c.Status(); return err }); err != nil {
		t.Fatal(err)
	}
	if len(st.Workers) != 2 || st.LastReload != nil {
		t.Fatalf("status has %d workers and last reload %v, want 2 and none", len(st.Workers), st.LastReload)
	}
	for _, w := range st.Workers {
		if w.Pid < fakePidBase || w.State != "online" {
			t.Errorf("worker row %+v, want a fake worker online", w)
		}
	}

	var got int
	if err := h.ask(func() (err error) { got, err = c.Scale(9); return err }); err != nil || got != 3 {
		t.Fatalf("scale to 9: %d, %v; want clamped to max-workers 3", got, err)
	}
	if n := h.s.activeSlots(); n != 3 {
		t.Fatalf("%d slots after scaling to 3", n)
	}
	h.until("the new worker online", time.Second, h.online)
	if err := h.ask(func() error { return c.WaitScale(3, h.now, time.Millisecond) }); err != nil {
		t.Fatalf("waiting for 3 workers, all online: %v", err)
	}
	if err := h.ask(func() (err error) { got, err = c.Scale(0); return err }); err == nil || !strings.Contains(err.Error(), "400") {
		t.Fatalf("scale to 0: %d, %v; want a 400 refusal", got, err)
	}
	if err := h.ask(func() error { return c.do(http.MethodPost, "/scale?workers=x", nil) }); err == nil || !strings.Contains(err.Error(), "400 Bad Request") {
		t.Fatalf("scale to x: %v, want 400 Bad Request", err)
	}

	var id int
	if err := h.ask(func() (err error) { id, err = c.Reload(); return err }); err != nil || id != 1 {
		t.Fatalf("reload: id %d, %v; want reload 1", id, err)
	}
	if h.s.reload == nil {
		t.Fatal("no reload running after POST /reload")
	}
	var up error
	h.ask(func() error { _, up = c.Upgrade(); return nil })
	if up == nil || !strings.Contains(up.Error(), "a reload or recycle is running") {
		t.Errorf("upgrade during a reload: %v, want refused", up)
	}
	h.until("the reload ends", time.Minute, func() bool { return h.s.reload == nil })
	var res ReloadResult
	if err := h.ask(func() (err error) { res, err = c.WaitReload(id, time.Millisecond); return err }); err != nil {
		t.Fatal(err)
	}
	if res.ID != 1 || res.Result != ReloadFinished {
		t.Fatalf("reload outcome %+v, want reload 1 finished", res)
	}

	if err := h.ask(c.Stop); err != nil {
		t.Fatal(err)
	}
	if !h.s.stopping {
		t.Fatal("POST /stop did not start the stop")
	}
	if err := h.ask(func() (err error) { got, err = c.Scale(2); return err }); err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("scale while stopping: %v, want a 409 conflict", err)
	}
	if err := h.ask(func() (err error) { id, err = c.Reload(); return err }); err == nil || !strings.Contains(err.Error(), "409") {
		t.Errorf("reload while stopping: %d, %v, want a 409 conflict", id, err)
	}
	if err := h.ask(func() (err error) { _, err = c.WaitReload(5, time.Millisecond); return err }); err == nil || !strings.Contains(err.Error(), "stopping") {
		t.Errorf("waiting for a reload while stopping: %v, want told the server stops", err)
	}
	if err := h.ask(func() error { return c.WaitScale(3, h.now, time.Millisecond) }); err == nil || !strings.Contains(err.Error(), "stopping") {
		t.Errorf("waiting for a scale while stopping: %v, want told the server stops", err)
	}
	h.ask(func() error { _, up = c.Upgrade(); return nil })
	if up == nil || !strings.Contains(up.Error(), "the server is stopping") {
		t.Errorf("upgrade while stopping: %v, want refused", up)
	}
}

func TestControlServesMetricsOnTheSocketAndTheMetricsAddress(t *testing.T) {
	h, c := controlHarness(t, Config{Workers: 1, MetricsAddr: "127.0.0.1:0"})
	var ctl *control
	for _, hk := range h.s.hooks {
		if cc, ok := hk.(*control); ok {
			ctl = cc
		}
	}
	if ctl == nil || ctl.mln == nil || ctl.metrics == nil {
		t.Fatal("no metrics listener though --metrics-addr was given")
	}
	get := func(url string, hc *http.Client) (string, error) {
		resp, err := hc.Get(url)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	for name, url := range map[string]string{"socket": "http://spread/metrics", "tcp": "http://" + ctl.mln.Addr().String() + "/metrics"} {
		var body string
		if err := h.ask(func() (err error) { body, err = get(url, c.hc); return err }); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !strings.Contains(body, "spread_") {
			t.Errorf("metrics on the %s hold no spread_ metric:\n%.300s", name, body)
		}
	}
	f, mf := ctl.listenerFile(), ctl.metricsFile()
	if f == nil || mf == nil {
		t.Fatal("no listener files for an upgrade's handover")
	}
	f.Close()
	mf.Close()
	ctl.handOver(0)
	h.s.closeHooks()
	if _, err := os.Stat(c.Path); err != nil {
		t.Errorf("the socket file was removed though it was handed over: %v", err)
	}
}

func TestClientWithoutAServerSaysSoInOneLine(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "none.sock"))
	_, err := c.Status()
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), c.Path) {
		t.Fatalf("status without a server: %v, want one line naming the socket", err)
	}
	if _, err := c.Upgrade(); err == nil {
		t.Fatal("upgrade without a server succeeded")
	}
}
