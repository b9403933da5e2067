package handler

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate and its key as PEM files.
func writeCert(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestLoadTLSServesTLS12AndUpWithTheCertificate(t *testing.T) {
	certFile, keyFile := writeCert(t)
	cfg, err := LoadTLS(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Certificates) != 1 || cfg.MinVersion != tls.VersionTLS12 || len(cfg.CipherSuites) != 6 {
		t.Fatalf("config: %d certificates, min version %#x, %d suites", len(cfg.Certificates), cfg.MinVersion, len(cfg.CipherSuites))
	}
	ln := tlsListener(nopListener{}, cfg)
	if ln == nil || len(cfg.NextProtos) != 0 {
		t.Fatal("tlsListener changed the shared config instead of a clone")
	}
}

func TestLoadTLSNamesBothFilesWhenItFails(t *testing.T) {
	certFile, _ := writeCert(t)
	missing := filepath.Join(t.TempDir(), "missing.pem")
	_, err := LoadTLS(certFile, missing)
	if err == nil || !strings.HasPrefix(err.Error(), "TLS certificate "+certFile+" and key "+missing+": ") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("LoadTLS with a missing key: %v", err)
	}
}

// nopListener is a net.Listener that is never used.
type nopListener struct{ net.Listener }
