// Package etcdclient owns the etcd_exporter's one etcd client: the
// component "etcd", with the flags etcdctl uses (--etcd.endpoints,
// --etcd.cacert, --etcd.cert, --etcd.key, --etcd.user, --etcd.password) and
// a bound on every request (--etcd.request-timeout).
//
// The client never logs a key or a value: its gRPC and zap logs are off, and
// errors that reach the exporter's log carry etcd's status, not a request.
package etcdclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/bpfleet/bpfleet/internal/exporter"
)

// ComponentName is the component's name: its flags are --etcd.<option>.
const ComponentName = "etcd"

// Defaults of the component's flags.
const (
	DefaultEndpoints      = "http://127.0.0.1:2379"
	DefaultDialTimeout    = 5 * time.Second
	DefaultRequestTimeout = 10 * time.Second
)

// MaxResponseBytes is the largest response the client accepts: a page of
// the keyspace pass is bounded by its key count, and one value by etcd's
// --max-request-bytes (1.5 MiB by default); 64 MiB leaves room for a page
// of large values.
const MaxResponseBytes = 64 << 20

// Config is what the component's flags say.
type Config struct {
	Endpoints      []string
	CACert         string // PEM file of the CA that signed the servers' certificates
	Cert, Key      string // PEM files of the client certificate and its key
	Username       string
	Password       string
	DialTimeout    time.Duration
	RequestTimeout time.Duration
}

// Client is the shared etcd client and its request bound.
type Client struct {
	*clientv3.Client
	// RequestTimeout bounds one unary request (a page, a lease list).
	RequestTimeout time.Duration
}

// Component is the etcd client shared by the exporter's collectors.
var Component = exporter.ComponentSpec{
	Name: ComponentName,
	Flags: func(fs *exporter.FlagSet) exporter.NewComponent {
		var cfg Config
		endpoints := fs.Flag("endpoints", "Comma-separated etcd client URLs (https:// for TLS).").Default(DefaultEndpoints).String()
		fs.Flag("cacert", "PEM file of the CA that verifies the etcd servers' certificates (as etcdctl --cacert).").StringVar(&cfg.CACert)
		fs.Flag("cert", "PEM file of the client certificate (as etcdctl --cert).").StringVar(&cfg.Cert)
		fs.Flag("key", "PEM file of the client certificate's private key (as etcdctl --key).").StringVar(&cfg.Key)
		fs.Flag("user", "etcd user name for token authentication (optional).").StringVar(&cfg.Username)
		fs.Flag("password", "Password of --etcd.user; prefer --etcd.password-file.").StringVar(&cfg.Password)
		passwordFile := fs.Flag("password-file", "File holding the password of --etcd.user.").String()
		fs.Flag("dial-timeout", "Timeout of connecting to an endpoint.").Default(DefaultDialTimeout.String()).DurationVar(&cfg.DialTimeout)
		fs.Flag("request-timeout", "Timeout of one etcd request (one page of the keyspace pass, a lease list).").Default(DefaultRequestTimeout.String()).DurationVar(&cfg.RequestTimeout)
		fs.Validate(func() error {
			cfg.Endpoints = splitEndpoints(*endpoints)
			if *passwordFile != "" {
				b, err := os.ReadFile(*passwordFile)
				if err != nil {
					return fmt.Errorf("--etcd.password-file: %w", err)
				}
				cfg.Password = strings.TrimRight(string(b), "\r\n")
			}
			return cfg.Validate()
		})
		return func(ctx context.Context, _ exporter.Env) (any, error) {
			cli, err := New(ctx, cfg)
			if err != nil {
				// Not a typed nil in the interface: the scaffold would
				// take it for a constructed component.
				return nil, err
			}
			return cli, nil
		}
	},
}

// FromEnv returns the exporter's etcd Client (Component), once constructed.
func FromEnv(ctx context.Context, env exporter.Env) (*Client, error) {
	return exporter.Use[*Client](ctx, env, ComponentName)
}

func splitEndpoints(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

// Validate checks the configuration without touching the network or files.
func (c Config) Validate() error {
	switch {
	case len(c.Endpoints) == 0:
		return errors.New("--etcd.endpoints: no endpoint")
	case (c.Cert == "") != (c.Key == ""):
		return errors.New("--etcd.cert and --etcd.key: give both or neither")
	case c.Password != "" && c.Username == "":
		return errors.New("--etcd.password: needs --etcd.user")
	case c.DialTimeout <= 0:
		return fmt.Errorf("--etcd.dial-timeout: must be positive, got %s", c.DialTimeout)
	case c.RequestTimeout <= 0:
		return fmt.Errorf("--etcd.request-timeout: must be positive, got %s", c.RequestTimeout)
	}
	for _, e := range c.Endpoints {
		if !strings.HasPrefix(e, "http://") && !strings.HasPrefix(e, "https://") && !strings.HasPrefix(e, "unix://") && !strings.HasPrefix(e, "unixs://") {
			return fmt.Errorf("--etcd.endpoints: %q is not an http://, https://, unix:// or unixs:// URL", e)
		}
	}
	return nil
}

// TLS returns the client's TLS configuration, or nil when no CA and no
// client certificate is given (the endpoints' scheme then decides).
func (c Config) TLS() (*tls.Config, error) {
	if c.CACert == "" && c.Cert == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.CACert != "" {
		pem, err := os.ReadFile(c.CACert)
		if err != nil {
			return nil, fmt.Errorf("--etcd.cacert: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--etcd.cacert: %s holds no PEM certificate", c.CACert)
		}
		cfg.RootCAs = pool
	}
	if c.Cert != "" {
		cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
		if err != nil {
			return nil, fmt.Errorf("--etcd.cert/--etcd.key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// New connects to etcd and checks that a request goes through (the
// server's status on one endpoint), so that a wrong certificate, a wrong
// password or an unreachable cluster fails here, with its reason, and is
// retried by the scaffold.
func New(ctx context.Context, c Config) (*Client, error) {
	tlsCfg, err := c.TLS()
	if err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:          c.Endpoints,
		TLS:                tlsCfg,
		Username:           c.Username,
		Password:           c.Password,
		DialTimeout:        c.DialTimeout,
		MaxCallRecvMsgSize: MaxResponseBytes,
		Logger:             zap.NewNop(),
		Context:            context.WithoutCancel(ctx),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	client := &Client{Client: cli, RequestTimeout: c.RequestTimeout}
	if err := client.check(ctx, c.Endpoints, tlsCfg); err != nil {
		cli.Close()
		return nil, err
	}
	return client, nil
}

// check asks the first endpoint that answers for its status. gRPC hides a
// failed TLS handshake behind a timeout: an endpoint that does not answer
// is probed with a handshake of its own, whose error names the reason (an
// unknown CA, a refused client certificate).
func (c *Client) check(ctx context.Context, endpoints []string, tlsCfg *tls.Config) error {
	var errs []error
	for _, e := range endpoints {
		rctx, cancel := context.WithTimeout(ctx, c.RequestTimeout)
		_, err := c.Status(rctx, e)
		cancel()
		if err == nil {
			return nil
		}
		if tlsErr := probeTLS(e, tlsCfg, c.RequestTimeout); tlsErr != nil {
			err = fmt.Errorf("TLS: %w", tlsErr)
		}
		errs = append(errs, fmt.Errorf("etcd endpoint %s: %w", e, err))
	}
	return errors.Join(errs...)
}

// probeTLS returns the error of a TLS handshake with endpoint, including
// the server's refusal of the client certificate, which TLS 1.3 reports
// only on the first read; nil when the handshake succeeds or the endpoint
// does not use TLS.
func probeTLS(endpoint string, cfg *tls.Config, timeout time.Duration) error {
	u, err := url.Parse(endpoint)
	if err != nil || cfg == nil || u.Scheme != "https" {
		return nil
	}
	cfg = cfg.Clone()
	cfg.ServerName = u.Hostname()
	cfg.NextProtos = []string{"h2"}
	d := &net.Dialer{Timeout: timeout}
	conn, err := tls.DialWithDialer(d, "tcp", u.Host, cfg)
	if err != nil {
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			return nil
		}
		var opErr *net.OpError
		if errors.As(err, &opErr) && opErr.Op == "dial" {
			return nil // not a TLS problem
		}
		return err
	}
	defer conn.Close()
	conn.SetReadDeadline(time.Now().Add(min(timeout, time.Second)))
	var b [1]byte
	_, err = conn.Read(b[:])
	var netErr net.Error
	if err == nil || errors.As(err, &netErr) && netErr.Timeout() {
		return nil
	}
	if strings.Contains(err.Error(), "tls:") {
		return err
	}
	return nil
}
