// Package kubelet is kubelet_exporter's component "kubelet": the HTTPS
// client of the node's own kubelet (--kubelet.address, by default
// https://$HOST_IP:10250), authenticated with the pod's service-account
// token and verifying the kubelet's certificate against --kubelet.ca-file.
//
// It reads two endpoints: /stats/summary (RBAC: get on nodes/stats) at most
// once per --kubelet.min-interval, and, with --kubelet.pods, /pods (get on
// nodes/pods) for the pods' ephemeral-storage limits and volume types. Both
// replies are decoded as streams, one pod at a time, so that a node's
// megabytes of JSON are never held whole. A request that fails starts an
// exponential backoff during which scrapes get the failure without asking
// the kubelet again; nothing older than the last request is ever served.
// At start, the component's Runner asks each endpoint once and logs the
// permission the token lacks, if any, as the kubelet names it.
package kubelet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/retry"
)

// Name is the component's name: its flags are --kubelet.<option>.
const Name = "kubelet"

// Service-account files mounted into every pod that automounts its token.
const (
	DefaultTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	DefaultCAFile    = "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt"
)

// DefaultAddress is --kubelet.address's default: $HOST_IP is expanded from
// the environment (the downward API's status.hostIP in the DaemonSet).
const DefaultAddress = "https://${HOST_IP}:10250"

// Endpoints the client reads.
const (
	SummaryPath = "/stats/summary"
	PodsPath    = "/pods"
)

// Config is what the component's flags say.
type Config struct {
	// Address is the kubelet's base URL, environment variables expanded.
	Address   string
	TokenFile string // "" sends no token
	CAFile    string // "" uses the system's roots
	// InsecureSkipTLSVerify does not verify the kubelet's certificate.
	InsecureSkipTLSVerify bool
	// MinInterval is the shortest time between two requests of one
	// endpoint: scrapes within it share the last reply.
	MinInterval time.Duration
	// Timeout bounds each request (the scrape's deadline may be shorter).
	Timeout time.Duration
	// Pods also reads /pods (needs get on nodes/pods).
	Pods bool
}

// Component declares the kubelet component.
var Component = exporter.ComponentSpec{
	Name: Name,
	Flags: func(fs *exporter.FlagSet) exporter.NewComponent {
		var c Config
		address := fs.Flag("address", "The kubelet's URL; ${VAR} and $VAR are expanded from the environment (an IPv6 address in brackets).").Default(DefaultAddress).String()
		fs.Flag("token-file", "Bearer token file, read again at every request (projected tokens rotate); empty: no token.").Default(DefaultTokenFile).StringVar(&c.TokenFile)
		fs.Flag("ca-file", "CA certificates that sign the kubelet's serving certificate; empty: the system's.").Default(DefaultCAFile).StringVar(&c.CAFile)
		fs.Flag("insecure-skip-tls-verify", "Do not verify the kubelet's certificate (a warning is logged).").Default("false").BoolVar(&c.InsecureSkipTLSVerify)
		fs.Flag("min-interval", "Shortest time between two requests of one kubelet endpoint; scrapes within it share the last reply.").Default("10s").DurationVar(&c.MinInterval)
		fs.Flag("timeout", "Timeout of each request to the kubelet (a scrape's own deadline may be shorter).").Default("10s").DurationVar(&c.Timeout)
		fs.Flag("pods", "Also read /pods (RBAC: get on nodes/pods): pods' ephemeral-storage limits and volume types.").Default("false").BoolVar(&c.Pods)
		fs.Validate(func() error {
			var err error
			if c.Address, err = ExpandAddress(*address, os.LookupEnv); err != nil {
				return fmt.Errorf("--kubelet.address: %w", err)
			}
			switch {
			case c.MinInterval < 0:
				return fmt.Errorf("--kubelet.min-interval: %s, want 0 or more", c.MinInterval)
			case c.Timeout <= 0:
				return fmt.Errorf("--kubelet.timeout: %s, want a positive duration", c.Timeout)
			}
			return nil
		})
		return func(_ context.Context, env exporter.Env) (any, error) {
			return New(c, env.Logger)
		}
	},
}

// FromEnv returns the kubelet component.
func FromEnv(ctx context.Context, env exporter.Env) (*Client, error) {
	return exporter.Use[*Client](ctx, env, Name)
}

// ExpandAddress expands $VAR and ${VAR} in address with lookup (an IPv6
// address is put in brackets) and checks that the result is an https or
// http URL with a host. A variable that is not set is an error naming it.
func ExpandAddress(address string, lookup func(string) (string, bool)) (string, error) {
	var missing []string
	expanded := os.Expand(address, func(name string) string {
		v, ok := lookup(name)
		if !ok || v == "" {
			missing = append(missing, name)
			return ""
		}
		if ip := net.ParseIP(v); ip != nil && ip.To4() == nil {
			return "[" + v + "]"
		}
		return v
	})
	if len(missing) > 0 {
		return "", fmt.Errorf("%q: $%s is not set (give the kubelet's address, or set it from the downward API's status.hostIP)", address, strings.Join(missing, ", $"))
	}
	u, err := url.Parse(expanded)
	if err != nil {
		return "", fmt.Errorf("%q: %w", expanded, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Hostname() == "" {
		return "", fmt.Errorf("%q: want https://<host>:<port>", expanded)
	}
	return strings.TrimSuffix(expanded, "/"), nil
}

// Client is the kubelet component.
type Client struct {
	cfg    Config
	log    *slog.Logger
	http   *http.Client
	base   *url.URL
	tokens tokenSource
	// Requests times the exporter's requests to the kubelet.
	Requests *prometheus.HistogramVec

	summary *cached[*Summary]
	pods    *cached[PodSpecs]
}

// Metric name and help of the component's instrument, which the summary
// collector serves (kubelet_exporter's metric table documents it).
const (
	RequestDurationName = "kubelet_summary_request_duration_seconds"
	RequestDurationHelp = "Duration of the exporter's requests to the kubelet, from sending the request to the end of the decoded reply, by endpoint and HTTP status code (\"error\": no answer, or a reply cut short)."
)

// RequestBuckets are the buckets of kubelet_summary_request_duration_seconds.
var RequestBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// New builds the client; it reads the CA file but asks the kubelet nothing.
func New(c Config, log *slog.Logger) (*Client, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	base, err := url.Parse(c.Address)
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("kubelet address %q: want https://<host>:<port>", c.Address)
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case c.InsecureSkipTLSVerify:
		tlsConfig.InsecureSkipVerify = true
		log.Warn("the kubelet's certificate is not verified (--kubelet.insecure-skip-tls-verify): anyone who can intercept the node's traffic can read the token", "address", c.Address)
	case c.CAFile != "":
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--kubelet.ca-file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--kubelet.ca-file %s: no PEM certificate in it", c.CAFile)
		}
		tlsConfig.RootCAs = pool
	}
	transport := &http.Transport{
		TLSClientConfig:     tlsConfig,
		Proxy:               nil, // the node's own kubelet: never through a proxy
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  false,
	}
	k := &Client{
		cfg:    c,
		log:    log,
		http:   &http.Client{Transport: transport},
		base:   base,
		tokens: tokenSource{path: c.TokenFile},
		Requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: RequestDurationName, Help: RequestDurationHelp, Buckets: RequestBuckets,
		}, []string{"endpoint", "code"}),
	}
	k.summary = newCached(c.MinInterval, func(ctx context.Context) (*Summary, error) {
		var s *Summary
		err := k.get(ctx, SummaryPath, func(r io.Reader) (err error) { s, err = DecodeSummary(r); return err })
		return s, err
	})
	k.pods = newCached(c.MinInterval, func(ctx context.Context) (PodSpecs, error) {
		var p PodSpecs
		err := k.get(ctx, PodsPath, func(r io.Reader) (err error) { p, err = DecodePods(r); return err })
		return p, err
	})
	return k, nil
}

// ReadsPods reports whether --kubelet.pods is on.
func (k *Client) ReadsPods() bool { return k.cfg.Pods }

// Summary returns the node's summary: the last reply if it is younger than
// --kubelet.min-interval, else a new one (concurrent callers share one
// request). While the kubelet fails, it returns the failure, asking the
// kubelet again only after a backoff.
func (k *Client) Summary(ctx context.Context) (*Summary, error) { return k.summary.get(ctx) }

// Pods returns the pods' specs from /pods, cached like Summary.
func (k *Client) Pods(ctx context.Context) (PodSpecs, error) { return k.pods.get(ctx) }

// StatusError is a reply of the kubelet other than 200.
type StatusError struct {
	Endpoint string
	Code     int
	Body     string // the kubelet's message, shortened
}

func (e *StatusError) Error() string {
	switch e.Code {
	case http.StatusUnauthorized:
		return fmt.Sprintf("kubelet %s: 401 Unauthorized: the kubelet does not accept the token (expired, or not a service-account token of this cluster): %s", e.Endpoint, e.Body)
	case http.StatusForbidden:
		return fmt.Sprintf("kubelet %s: 403 Forbidden: RBAC: the token lacks %s: %s", e.Endpoint, Permission(e.Endpoint), e.Body)
	}
	return fmt.Sprintf("kubelet %s: HTTP %d: %s", e.Endpoint, e.Code, e.Body)
}

// Permission names the RBAC rule that endpoint needs.
func Permission(endpoint string) string {
	if endpoint == PodsPath {
		return `"get" on "nodes/pods"`
	}
	return `"get" on "nodes/stats"`
}

// get requests path and hands the body to decode; the duration until
// decode returns is observed with the reply's code.
func (k *Client) get(ctx context.Context, path string, decode func(io.Reader) error) error {
	ctx, cancel := context.WithTimeout(ctx, k.cfg.Timeout)
	defer cancel()
	start := time.Now()
	code := "error"
	defer func() { k.Requests.WithLabelValues(path, code).Observe(time.Since(start).Seconds()) }()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.base.JoinPath(path).String(), nil)
	if err != nil {
		return fmt.Errorf("kubelet %s: %w", path, err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "kubelet_exporter")
	token, err := k.tokens.token()
	if err != nil {
		return fmt.Errorf("kubelet %s: --kubelet.token-file: %w", path, err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := k.http.Do(req)
	if err != nil {
		return fmt.Errorf("kubelet %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		code = strconv.Itoa(resp.StatusCode)
		return &StatusError{Endpoint: path, Code: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	}
	if err := decode(resp.Body); err != nil {
		return fmt.Errorf("kubelet %s: decoding the reply: %w", path, err)
	}
	code = "200"
	return nil
}

// tokenSource reads the token file at every request: projected
// service-account tokens are rotated by the kubelet.
type tokenSource struct{ path string }

func (t tokenSource) token() (string, error) {
	if t.path == "" {
		return "", nil
	}
	b, err := os.ReadFile(t.path)
	if err != nil {
		return "", err
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("%s is empty", t.path)
	}
	return tok, nil
}

// Run checks, once at start, that the kubelet accepts the token for every
// endpoint the exporter reads, and logs each missing permission. It retries
// with backoff while the kubelet does not answer, and returns once each
// endpoint has answered.
func (k *Client) Run(ctx context.Context) error {
	paths := []string{SummaryPath}
	if k.cfg.Pods {
		paths = append(paths, PodsPath)
	}
	for _, path := range paths {
		err := retry.Do(ctx, func(ctx context.Context) error {
			err := k.get(ctx, path, func(r io.Reader) error { _, err := io.Copy(io.Discard, r); return err })
			var status *StatusError
			switch {
			case err == nil:
				k.log.Info("the kubelet accepts the token", "endpoint", path, "permission", Permission(path))
			case errors.As(err, &status):
				k.log.Error("permission check failed", "endpoint", path, "permission", Permission(path), "err", err)
			default:
				return err
			}
			return nil
		}, retry.Max(30*time.Second), retry.OnError(func(err error, next time.Duration) {
			k.log.Warn("kubelet unreachable for the permission check", "endpoint", path, "retry_in", next, "err", err)
		}))
		if err != nil {
			return nil // ctx done: shutdown
		}
	}
	return nil
}

// Close releases idle connections.
func (k *Client) Close() error {
	k.http.CloseIdleConnections()
	return nil
}

// cached holds the last result of fetch: a result younger than interval is
// reused; after a failure, fetch is called again only once a backoff
// (1s doubling to 30s, with jitter) has passed, the failure being returned
// meanwhile. Concurrent callers wait for one fetch.
type cached[T any] struct {
	interval time.Duration
	fetch    func(context.Context) (T, error)
	sem      chan struct{}
	bo       *backoff.ExponentialBackOff
	now      func() time.Time

	at    time.Time // when the last fetch started
	next  time.Time // no fetch before
	value T
	err   error
}

func newCached[T any](interval time.Duration, fetch func(context.Context) (T, error)) *cached[T] {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval, bo.RandomizationFactor, bo.Multiplier = time.Second, 30*time.Second, 0.5, 2
	return &cached[T]{interval: interval, fetch: fetch, sem: make(chan struct{}, 1), bo: bo, now: time.Now}
}

func (c *cached[T]) get(ctx context.Context) (T, error) {
	select {
	case c.sem <- struct{}{}:
	case <-ctx.Done():
		var zero T
		return zero, context.Cause(ctx)
	}
	defer func() { <-c.sem }()
	now := c.now()
	if !c.at.IsZero() {
		if c.err == nil && now.Sub(c.at) < c.interval {
			return c.value, nil
		}
		if c.err != nil && now.Before(c.next) {
			var zero T
			return zero, fmt.Errorf("%w (backing off: next request in %s)", c.err, c.next.Sub(now).Round(time.Millisecond))
		}
	}
	c.at = now
	c.value, c.err = c.fetch(ctx)
	if c.err != nil {
		var zero T
		c.value = zero
		c.next = c.now().Add(c.bo.NextBackOff())
		return zero, c.err
	}
	c.bo.Reset()
	return c.value, nil
}
