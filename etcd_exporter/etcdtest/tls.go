package etcdtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TLSFiles are PEM files made for one test: a CA, a server certificate for
// 127.0.0.1 and a client certificate signed by the CA, and a client
// certificate signed by another CA (which the server must refuse).
type TLSFiles struct {
	CA                              string
	ServerCert, ServerKey           string
	ClientCert, ClientKey           string
	WrongClientCert, WrongClientKey string
}

// WriteTLS makes the certificates and keys in dir.
func WriteTLS(tb testing.TB, dir string) *TLSFiles {
	tb.Helper()
	f := &TLSFiles{}
	ca, caKey := makeCert(tb, "bpfleet test CA", nil, nil, func(t *x509.Certificate) {
		t.IsCA, t.BasicConstraintsValid = true, true
		t.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	})
	f.CA = writePEM(tb, dir, "ca.pem", "CERTIFICATE", ca.Raw)
	server, serverKey := makeCert(tb, "etcd", ca, caKey, func(t *x509.Certificate) {
		t.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		t.DNSNames = []string{"localhost"}
		t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	})
	f.ServerCert = writePEM(tb, dir, "server.pem", "CERTIFICATE", server.Raw)
	f.ServerKey = writeKey(tb, dir, "server-key.pem", serverKey)
	client, clientKey := makeCert(tb, "etcd_exporter", ca, caKey, clientUsage)
	f.ClientCert = writePEM(tb, dir, "client.pem", "CERTIFICATE", client.Raw)
	f.ClientKey = writeKey(tb, dir, "client-key.pem", clientKey)
	other, otherKey := makeCert(tb, "another CA", nil, nil, func(t *x509.Certificate) {
		t.IsCA, t.BasicConstraintsValid = true, true
		t.KeyUsage = x509.KeyUsageCertSign
	})
	wrong, wrongKey := makeCert(tb, "etcd_exporter", other, otherKey, clientUsage)
	f.WrongClientCert = writePEM(tb, dir, "wrong-client.pem", "CERTIFICATE", wrong.Raw)
	f.WrongClientKey = writeKey(tb, dir, "wrong-client-key.pem", wrongKey)
	return f
}

func clientUsage(t *x509.Certificate) {
	t.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
}

func makeCert(tb testing.TB, cn string, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, edit func(*x509.Certificate)) (*x509.Certificate, *ecdsa.PrivateKey) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	edit(tmpl)
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return cert, key
}

func writeKey(tb testing.TB, dir, name string, key *ecdsa.PrivateKey) string {
	tb.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return writePEM(tb, dir, name, "PRIVATE KEY", der)
}

func writePEM(tb testing.TB, dir, name, typ string, der []byte) string {
	tb.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}
