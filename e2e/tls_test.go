package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/spreadhttp/spread/internal/spreadtest"
)

// testPair is a self-signed certificate for 127.0.0.1 and its key, as PEM.
type testPair struct {
	cert   *x509.Certificate
	certPE []byte
	keyPE  []byte
}

var serial atomic.Int64

// newTestPair makes a self-signed ECDSA P-256 certificate for 127.0.0.1,
// valid for an hour, with a serial number of its own.
func newTestPair(t *testing.T) testPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano() + serial.Add(1)),
		Subject:               pkix.Name{CommonName: "spread test"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return testPair{
		cert:   cert,
		certPE: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPE:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}
}

// install puts the pair at certPath and keyPath, each as a new file
// (write, then rename), the way a certificate renewal does.
func (p testPair) install(t *testing.T, certPath, keyPath string) {
	t.Helper()
	replaceFile(t, certPath, p.certPE)
	replaceFile(t, keyPath, p.keyPE)
}

// writePair writes p into dir and returns the two paths.
func writePair(t *testing.T, p testPair) (certPath, keyPath string) {
	t.Helper()
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	p.install(t, certPath, keyPath)
	return certPath, keyPath
}

// roots trusts the given test certificates.
func roots(ps ...testPair) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, p := range ps {
		pool.AddCert(p.cert)
	}
	return pool
}

// tlsClient speaks HTTP/2 when the server offers it, with a new
// connection per request.
func tlsClient(pool *x509.CertPool) *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: pool},
			ForceAttemptHTTP2: true,
			DisableKeepAlives: true,
		},
	}
}

func getTLS(t *testing.T, c *http.Client, url string) *http.Response {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !strings.HasPrefix(string(body), "Hello World from worker process") {
		t.Fatalf("GET %s: %d %q %v", url, resp.StatusCode, body, err)
	}
	return resp
}

func TestTLSServesHTTP2WithNetHTTPAndHTTP11WithFasthttp(t *testing.T) {
	pair := newTestPair(t)
	certPath, keyPath := writePair(t, pair)
	for _, c := range []struct{ engine, proto, alpn, curlVersion string }{
		{"net/http", "HTTP/2.0", "h2", "2"},
		{"fasthttp", "HTTP/1.1", "http/1.1", "1.1"},
	} {
		t.Run(strings.ReplaceAll(c.engine, "/", ""), func(t *testing.T) {
			s := spreadtest.Start(t, "--workers", "2", "--engine", c.engine, "--tls-cert", certPath, "--tls-key", keyPath)
			s.WaitOnline(2, 10*time.Second)
			url := "https://" + s.Addr + "/"
			resp := getTLS(t, tlsClient(roots(pair)), url)
			if resp.Proto != c.proto || resp.TLS == nil || resp.TLS.NegotiatedProtocol != c.alpn {
				t.Fatalf("%s: proto %s, ALPN %q; want %s over %q", c.engine, resp.Proto, resp.TLS.NegotiatedProtocol, c.proto, c.alpn)
			}
			if resp.TLS.Version < tls.VersionTLS12 {
				t.Fatalf("negotiated TLS version %x", resp.TLS.Version)
			}

			// Old protocols and weak TLS 1.2 suites are refused.
			weak := []*tls.Config{
				{RootCAs: roots(pair), MaxVersion: tls.VersionTLS11},
				{RootCAs: roots(pair), MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}},
				{RootCAs: roots(pair), MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}},
			}
			for _, cfg := range weak {
				conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", s.Addr, cfg)
				if err == nil {
					st := conn.ConnectionState()
					conn.Close()
					t.Fatalf("handshake with version %x suite %s succeeded", st.Version, tls.CipherSuiteName(st.CipherSuite))
				}
			}

			if curl, err := exec.LookPath("curl"); err != nil {
				t.Log("no curl: skipping the curl --http2 check")
			} else {
				out, err := exec.Command(curl, "--http2", "-sS", "--max-time", "10", "--cacert", certPath,
					"-o", "/dev/null", "-w", "%{http_code} %{http_version}", url).CombinedOutput()
				if err != nil || string(out) != "200 "+c.curlVersion {
					t.Fatalf("curl --http2 %s: %q %v; want \"200 %s\"", url, out, err, c.curlVersion)
				}
			}

			// Every TLS connection above is closed, so the drain has none
			// to wait for: a stop that takes the whole --graceful-timeout
			// means the drain lost track of them behind their *tls.Conn.
			start := time.Now()
			s.Signal(syscall.SIGTERM)
			if code := s.Wait(10 * time.Second); code != 0 {
				t.Fatalf("exit %d after SIGTERM", code)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Fatalf("the graceful stop took %s with no connection open", d)
			}
		})
	}
}

func TestBadTLSPairIsOneLineErrorBeforeAnyWorkerStarts(t *testing.T) {
	a, b := newTestPair(t), newTestPair(t)
	certA, keyA := writePair(t, a)
	_, keyB := writePair(t, b)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"mismatched", []string{"--tls-cert", certA, "--tls-key", keyB}, "private key does not match public key"},
		{"missing", []string{"--tls-cert", certA + ".gone", "--tls-key", keyA}, "no such file"},
		{"not PEM", []string{"--tls-cert", keyA, "--tls-key", certA}, "TLS certificate"},
		{"half a pair", []string{"--tls-cert", certA}, "--tls-key"},
		{"with a command", []string{"--tls-cert", certA, "--tls-key", keyA, "--", "true"}, "terminates TLS itself"},
	}
	bin := spreadtest.Binary(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr := fmt.Sprintf("127.0.0.1:%d", spreadtest.FreePort(t))
			cmd := exec.Command(bin, append([]string{"serve", "--addr", addr, "--log-format", "json"}, c.args...)...)
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("exit 0 for %v", c.args)
			}
			assertOneErrorLine(t, string(out), c.want)
			if strings.Contains(string(out), "worker started") {
				t.Fatalf("a worker started despite the bad pair:\n%s", out)
			}
		})
	}
}

// servedSerial is the serial number of the certificate a new connection
// to addr is served.
func servedSerial(t *testing.T, addr string, pool *x509.CertPool) string {
	t.Helper()
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func TestReloadRotatesTheCertificateUnderTLSLoadLosingNothing(t *testing.T) {
	for _, engine := range []string{"net/http", "fasthttp"} {
		t.Run(strings.ReplaceAll(engine, "/", ""), func(t *testing.T) {
			oldPair, newPair, badPair := newTestPair(t), newTestPair(t), newTestPair(t)
			certPath, keyPath := writePair(t, oldPair)
			s := spreadtest.Start(t, "--workers", "2", "--engine", engine, "--tls-cert", certPath, "--tls-key", keyPath)
			s.WaitOnline(2, 10*time.Second)
			pool := roots(oldPair, newPair)
			if got := servedSerial(t, s.Addr, pool); got != oldPair.cert.SerialNumber.String() {
				t.Fatalf("served serial %s before the rotation, want the old %s", got, oldPair.cert.SerialNumber)
			}

			// spreadtest.Load over TLS, counting the certificate serial
			// each connection was served.
			var mu sync.Mutex
			serials := map[string]int{}
			l := &spreadtest.Load{Addr: s.Addr, Conns: 16, KeepAlive: true, MaxRequests: 2_000_000, MaxDuration: 60 * time.Second,
				Dial: func(addr string) (net.Conn, error) {
					ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
					defer cancel()
					c, err := (&tls.Dialer{Config: &tls.Config{RootCAs: pool}}).DialContext(ctx, "tcp", addr)
					if err != nil {
						return nil, err
					}
					mu.Lock()
					serials[c.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.String()]++
					mu.Unlock()
					return c, nil
				}}
			l.Start()
			newPair.install(t, certPath, keyPath)
			if out, code := s.CLI("reload"); code != 0 {
				l.Stop()
				t.Fatalf("spread reload: exit %d: %s", code, out)
			}
			waitEvents(t, s, "reload finished", 1, 20*time.Second)
			// Once the old workers have drained, every connection is a new
			// worker's; let the load run on them for a moment.
			s.WaitOnline(2, 15*time.Second)
			before, _ := l.Done()
			spreadtest.Eventually(t, 10*time.Second, "200 more requests after the reload", func() bool {
				ok, _ := l.Done()
				return ok >= before+200
			})
			l.Stop()
			ok, failed := l.Done()
			mu.Lock()
			defer mu.Unlock()
			t.Logf("TLS load: %d ok, %d failed, connections per certificate serial %v", ok, failed, serials)
			if failed != 0 {
				t.Fatalf("%d requests lost: %v", failed, l.Errors())
			}
			if ok < 200 {
				t.Fatalf("only %d requests answered: the load did not run", ok)
			}
			if serials[newPair.cert.SerialNumber.String()] == 0 {
				t.Fatalf("no load connection was served the new certificate: %v", serials)
			}
			for range 10 {
				if got := servedSerial(t, s.Addr, pool); got != newPair.cert.SerialNumber.String() {
					t.Fatalf("served serial %s after the reload, want the new %s", got, newPair.cert.SerialNumber)
				}
			}

			// A reload with a broken pair stops at the first new worker,
			// which says why; the workers serving keep the new certificate.
			serving := s.WaitOnline(2, 15*time.Second) // the old workers have drained
			replaceFile(t, keyPath, badPair.keyPE)
			// spread reload waits for the outcome: it fails, saying why.
			if out, code := s.CLI("reload"); code == 0 || !strings.Contains(out, "private key does not match") {
				t.Fatalf("spread reload with a broken pair: exit %d: %s", code, out)
			}
			waitEvents(t, s, "reload failed: the old workers keep serving", 1, 10*time.Second)
			ev := s.Log().Events("reload failed: the old workers keep serving")[0]
			if reason, _ := ev["reason"].(string); !strings.Contains(reason, "private key does not match") {
				t.Fatalf("reload failure reason %q does not say why", reason)
			}
			if after := s.Workers(); fmt.Sprint(after) != fmt.Sprint(serving) {
				t.Fatalf("workers changed from %v to %v after a failed reload", serving, after)
			}
			if got := servedSerial(t, s.Addr, pool); got != newPair.cert.SerialNumber.String() {
				t.Fatalf("served serial %s after a failed reload, want %s", got, newPair.cert.SerialNumber)
			}
		})
	}
}
