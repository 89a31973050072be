package etcdclient_test

import (
	"context"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bpfleet/bpfleet/etcd_exporter/etcdclient"
	"github.com/bpfleet/bpfleet/etcd_exporter/etcdtest"
)

// TestTLSClientCertificates: against a member that requires client
// certificates signed by the test CA, the client with the right
// certificate reads and writes; one signed by another CA, or none, fails at
// construction with the TLS reason, within the request timeout.
func TestTLSClientCertificates(t *testing.T) {
	e := etcdtest.Start(t, etcdtest.Options{TLS: true})
	cfg := e.Config()
	cli, err := etcdclient.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("right certificate: %v", err)
	}
	defer cli.Close()
	if _, err := cli.Put(context.Background(), "/registry/pods/ns/p", "v"); err != nil {
		t.Fatalf("put over TLS: %v", err)
	}
	resp, err := cli.Get(context.Background(), "/registry/pods/ns/p")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("get over TLS: %v, %v", resp, err)
	}

	for name, edit := range map[string]func(*etcdclient.Config){
		"wrong client certificate": func(c *etcdclient.Config) { c.Cert, c.Key = e.TLS.WrongClientCert, e.TLS.WrongClientKey },
		"no client certificate":    func(c *etcdclient.Config) { c.Cert, c.Key = "", "" },
		"server CA unknown":        func(c *etcdclient.Config) { c.CACert = e.TLS.WrongClientCert },
	} {
		t.Run(name, func(t *testing.T) {
			c := e.Config()
			c.RequestTimeout = 2 * time.Second
			edit(&c)
			start := time.Now()
			cli, err := etcdclient.New(context.Background(), c)
			if err == nil {
				cli.Close()
				t.Fatal("connected")
			}
			if took := time.Since(start); took > 30*time.Second {
				t.Errorf("failing took %s", took)
			}
			t.Log(err)
			msg := err.Error()
			if !strings.Contains(msg, e.Endpoint) || !(strings.Contains(msg, "tls") || strings.Contains(msg, "certificate") || strings.Contains(msg, "handshake")) {
				t.Errorf("error does not name the endpoint and the TLS failure: %v", err)
			}
		})
	}
}

func TestConfigValidate(t *testing.T) {
	ok := etcdclient.Config{Endpoints: []string{"https://10.0.0.1:2379"}, DialTimeout: time.Second, RequestTimeout: time.Second}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*etcdclient.Config){
		"no endpoint":      func(c *etcdclient.Config) { c.Endpoints = nil },
		"bad scheme":       func(c *etcdclient.Config) { c.Endpoints = []string{"10.0.0.1:2379"} },
		"cert without key": func(c *etcdclient.Config) { c.Cert = "c.pem" },
		"key without cert": func(c *etcdclient.Config) { c.Key = "k.pem" },
		"password no user": func(c *etcdclient.Config) { c.Password = "x" },
		"zero timeout":     func(c *etcdclient.Config) { c.RequestTimeout = 0 },
		"negative dial":    func(c *etcdclient.Config) { c.DialTimeout = -time.Second },
	} {
		c := ok
		edit(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestTokenAuth: with etcd's authentication on, --etcd.user and
// --etcd.password get a token and read; a wrong password fails at
// construction, naming the reason.
func TestTokenAuth(t *testing.T) {
	e := etcdtest.Start(t, etcdtest.Options{})
	admin := e.Client(t)
	ctx := context.Background()
	if _, err := admin.UserAdd(ctx, "root", "s3cret"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	cfg := e.Config()
	cfg.Username, cfg.Password = "root", "s3cret"
	cli, err := etcdclient.New(ctx, cfg)
	if err != nil {
		t.Fatalf("right password: %v", err)
	}
	defer cli.Close()
	if _, err := cli.Leases(ctx); err != nil {
		t.Errorf("lease list with a token: %v", err)
	}
	if _, err := cli.Get(ctx, "/registry/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil {
		t.Errorf("range with a token: %v", err)
	}

	cfg.Password = "wrong"
	cli, err = etcdclient.New(ctx, cfg)
	if err == nil {
		cli.Close()
		t.Fatal("wrong password accepted")
	}
	if !strings.Contains(err.Error(), "authentication failed") {
		t.Errorf("error does not say authentication failed: %v", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error shows the password: %v", err)
	}
}
