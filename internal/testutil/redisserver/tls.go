package redisserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// StartTLS starts a redis-server that serves TLS only, with a fresh
// self-signed certificate for 127.0.0.1 and localhost and no client
// certificates, and returns its "127.0.0.1:port" address; connect with
// rediss://ADDR?skip_verify=true. It is stopped when t and its subtests
// finish. It fails t if redis-server is not on PATH (skips it if
// CALLCORE_SKIP_REDIS=1), like Start.
func StartTLS(t testing.TB) string {
	t.Helper()
	bin := binary(t)
	dir := t.TempDir()
	certFile, keyFile, err := writeSelfSigned(dir)
	if err != nil {
		t.Fatalf("redisserver: %v", err)
	}
	ports := startProcess(t, bin, 1, func(ports []int) ([]string, error) {
		return append([]string{
			"--port", "0",
			"--tls-port", strconv.Itoa(ports[0]),
			"--tls-cert-file", certFile,
			"--tls-key-file", keyFile,
			"--tls-auth-clients", "no",
		}, baseArgs(dir)...), nil
	}, tlsPing)
	return addr(ports[0])
}

// tlsPing is ping over TLS, without verifying the certificate.
func tlsPing(addr string) error {
	d := &net.Dialer{Timeout: 200 * time.Millisecond}
	// The certificate is the self-signed one StartTLS made.
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	if err != nil {
		return err
	}
	return pingConn(c)
}

// writeSelfSigned writes a self-signed certificate and its key, PEM
// encoded, into dir.
func writeSelfSigned(dir string) (certFile, keyFile string, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "redisserver"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", fmt.Errorf("create certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("marshal key: %w", err)
	}
	certFile = filepath.Join(dir, "cert.pem")
	keyFile = filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return "", "", fmt.Errorf("write certificate: %w", err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return "", "", fmt.Errorf("write key: %w", err)
	}
	return certFile, keyFile, nil
}
