package handler

import (
	"crypto/tls"
	"fmt"
	"net"
)

// LoadTLS reads a PEM certificate chain and its private key and returns the
// TLS configuration a Server serves with. The files are read once, now: a
// worker calls it at start, so a reload (new workers) is what rotates a
// certificate.
//
// The configuration is "modern but reachable": TLS 1.2 and 1.3 only, and
// for TLS 1.2 only ECDHE key exchange (forward secrecy) with AEAD ciphers
// (AES-GCM, ChaCha20-Poly1305), the suites Mozilla's "intermediate"
// profile keeps. No RSA key exchange, no CBC, no 3DES or RC4. Go does not
// let TLS 1.3 suites be chosen; all of them are strong. The engines set the
// ALPN protocols (NextProtos) themselves.
//
// The error says which file failed and why, on one line: a missing or
// unreadable file, a file with no PEM block, or a key that does not match
// the certificate.
func LoadTLS(certFile, keyFile string) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("TLS certificate %s and key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
	}, nil
}

// tlsListener wraps ln for an engine that terminates TLS itself on each
// accepted connection (fasthttp). It offers HTTP/1.1 only over ALPN.
func tlsListener(ln net.Listener, cfg *tls.Config) net.Listener {
	cfg = cfg.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	return tls.NewListener(ln, cfg)
}

// tableConn returns the connection the table holds for nc, the one a
// listener's Accept returned: an engine serving TLS reports the *tls.Conn
// around it to its ConnState hook.
func tableConn(nc net.Conn) (*conn, bool) {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, ok := nc.(*conn)
	return c, ok
}
