package supervisor

import (
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"golang.org/x/sys/unix"
)

// These tests pin the control socket's edges that the drills in
// controlloop_test.go pass through without checking: the listener an
// upgrade hands over, the socket's owner under --user, the codes and
// timeouts of the HTTP side.

// shortTempDir is a temporary directory with a path short enough for a
// Unix socket address (108 bytes), removed at the end of the test.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "spe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// unixListenFD binds and listens on a Unix socket at path and returns its
// raw descriptor, as an old supervisor hands it over in an upgrade.
func unixListenFD(t *testing.T, path string) int {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 16); err != nil {
		unix.Close(fd)
		t.Fatal(err)
	}
	return fd
}

func TestOpenControlServesTheListenerAnUpgradeHandedOver(t *testing.T) {
	h := newLoopHarness(t, Config{Workers: 1}, always(healthy))
	h.until("every worker online", time.Second, h.online)
	path := filepath.Join(shortTempDir(t), "control.sock")
	h.s.inherited = &upgradeSpec{Control: unixListenFD(t, path), Metrics: -1}
	ctl, err := h.s.openControl(path, "")
	if err != nil {
		t.Fatalf("opening the control socket on the handed-over listener: %v", err)
	}
	if ctl.mln != nil {
		t.Errorf("a metrics listener though none was handed over nor asked for")
	}
	var st StatusReply
	if err := h.ask(func() (err error) { st, err = NewClient(path).Status(); return err }); err != nil {
		t.Fatalf("status on the handed-over socket: %v", err)
	}
	if len(st.Workers) != 1 {
		t.Errorf("status has %d workers, want 1", len(st.Workers))
	}
	ctl.close()
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("the handed-over socket file is still there after close: %v", err)
	}
}

func TestControlSocketBelongsToTheWorkersUser(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to hand the socket to another user")
	}
	const nobody = 65534
	h := newLoopHarness(t, Config{Workers: 1}, always(healthy))
	h.s.cfg.Credential = &syscall.Credential{Uid: nobody, Gid: nobody}
	path := filepath.Join(shortTempDir(t), "run", "control.sock")
	ctl, err := h.s.openControl(path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer ctl.close()
	for _, p := range []string{path, filepath.Dir(path)} {
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != nobody || st.Gid != nobody {
			t.Errorf("%s is owned by %d:%d, want the workers' user %d:%d", p, st.Uid, st.Gid, nobody, nobody)
		}
	}
}

func TestControlWithoutAMetricsAddressListensOnNoTCPPort(t *testing.T) {
	h, _ := controlHarness(t, Config{Workers: 1})
	for _, hk := range h.s.hooks {
		if ctl, ok := hk.(*control); ok && (ctl.mln != nil || ctl.metrics != nil) {
			t.Fatalf("metrics served on %v though no --metrics-addr was given", ctl.mln.Addr())
		}
	}
}

func TestRefusedUpgradeAnswers409(t *testing.T) {
	h, c := controlHarness(t, Config{Workers: 1})
	if err := h.ask(c.Stop); err != nil {
		t.Fatal(err)
	}
	var code int
	var body string
	err := h.ask(func() error {
		resp, err := c.hc.Post("http://spread/upgrade", "", nil)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		code, body = resp.StatusCode, string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if code != http.StatusConflict || !strings.Contains(body, "the server is stopping") {
		t.Fatalf("upgrade while stopping answered %d %q, want 409 saying the server stops", code, body)
	}
}

// TestControlServersAndClientHaveTimeouts pins the timeouts that keep a
// silent peer from holding a connection for ever: the server drops a
// client that sends no header within 5s and an idle one after 30s; the
// client gives up on a server that does not answer within 30s.
func TestControlServersAndClientHaveTimeouts(t *testing.T) {
	srv := newControlServer(http.NotFoundHandler(), zerolog.Nop(), "control")
	if srv.ReadHeaderTimeout != 5*time.Second || srv.IdleTimeout != 30*time.Second {
		t.Errorf("control server: header timeout %s, idle timeout %s; want 5s and 30s", srv.ReadHeaderTimeout, srv.IdleTimeout)
	}
	if got := NewClient("/nonexistent.sock").hc.Timeout; got != 30*time.Second {
		t.Errorf("client timeout %s, want 30s", got)
	}
}

func TestClientTakesOnlyA2xxAnswerForSuccess(t *testing.T) {
	path := filepath.Join(shortTempDir(t), "control.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusMultipleChoices)
		io.WriteString(w, "choose")
	})}
	go srv.Serve(ln)
	defer srv.Close()
	err = NewClient(path).Stop()
	if err == nil || !strings.Contains(err.Error(), "300 Multiple Choices: choose") {
		t.Fatalf("stop answered 300: %v, want an error with the status and the body", err)
	}
}
