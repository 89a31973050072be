// Package kube is kubeapi_exporter's component "kube": the connection to
// the API server that every collector shares (--kubeconfig, in-cluster
// by default), the timing of the exporter's own requests, the health of its
// watches, and the selection of objects by shard and namespace.
package kube

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/limits"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
)

// Name is the component's name: its flags are --kube.<option>.
const Name = "kube"

// Config is what the component's flags say.
type Config struct {
	Kubeconfig        string
	Shard, Shards     int
	Namespaces        []string // allowlist; empty allows every namespace
	ExcludeNamespaces []string
	QPS               float64
	Burst             int
	Timeout           time.Duration
}

// Component declares the kube component.
var Component = exporter.ComponentSpec{
	Name: Name,
	Flags: func(fs *exporter.FlagSet) exporter.NewComponent {
		var c Config
		fs.Unscoped("kubeconfig", "Path to a kubeconfig file; empty: the in-cluster service account.").Default("").StringVar(&c.Kubeconfig)
		fs.Unscoped("shard", "This replica's shard: it reports the objects whose UID hashes to it (0 to --total-shards - 1).").Default("0").IntVar(&c.Shard)
		fs.Unscoped("total-shards", "Number of shards (replicas) that split the cluster's objects by UID.").Default("1").IntVar(&c.Shards)
		namespaces := fs.Flag("namespaces", "Comma-separated namespaces to report; empty: every namespace.").Default("").String()
		exclude := fs.Flag("namespaces-exclude", "Comma-separated namespaces not to report.").Default("").String()
		fs.Flag("qps", "Client-side rate limit of the exporter's API requests per second.").Default("20").Float64Var(&c.QPS)
		fs.Flag("burst", "Client-side burst of the exporter's API requests.").Default("40").IntVar(&c.Burst)
		fs.Flag("timeout", "Timeout of each non-watch API request.").Default("30s").DurationVar(&c.Timeout)
		fs.Validate(func() error {
			c.Namespaces, c.ExcludeNamespaces = splitList(*namespaces), splitList(*exclude)
			switch {
			case c.Shards < 1:
				return fmt.Errorf("--total-shards: %d, want at least 1", c.Shards)
			case c.Shard < 0 || c.Shard >= c.Shards:
				return fmt.Errorf("--shard: %d, want 0 to %d", c.Shard, c.Shards-1)
			case c.QPS <= 0 || c.Burst < 1:
				return fmt.Errorf("--kube.qps and --kube.burst must be positive (got %g, %d)", c.QPS, c.Burst)
			case c.Timeout <= 0:
				return fmt.Errorf("--kube.timeout: %s, want a positive duration", c.Timeout)
			}
			for _, ns := range c.Namespaces {
				if slices.Contains(c.ExcludeNamespaces, ns) {
					return fmt.Errorf("--kube.namespaces and --kube.namespaces-exclude both name %q", ns)
				}
			}
			return nil
		})
		return func(ctx context.Context, env exporter.Env) (any, error) {
			cfg, err := RESTConfig(c.Kubeconfig)
			if err != nil {
				return nil, err
			}
			return New(cfg, c, env.Self)
		}
	},
}

// FromEnv returns the kube component.
func FromEnv(ctx context.Context, env exporter.Env) (*Client, error) {
	return exporter.Use[*Client](ctx, env, Name)
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// RESTConfig loads kubeconfig, or the in-cluster configuration when it is
// empty. Outside a cluster without a kubeconfig the error wraps
// errors.ErrUnsupported: there is no API server to ask.
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		cfg, err := rest.InClusterConfig()
		if errors.Is(err, rest.ErrNotInCluster) {
			return nil, fmt.Errorf("not running in a cluster and no --kubeconfig given: %w (%w)", err, errors.ErrUnsupported)
		}
		if err != nil {
			return nil, fmt.Errorf("in-cluster configuration: %w", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("--kubeconfig %s: %w", kubeconfig, err)
	}
	return cfg, nil
}

// Client is the kube component: the clientsets, the request timing, the
// watch health of every resource the collectors watch, and the selection
// of objects.
type Client struct {
	Clientset kubernetes.Interface
	Metadata  metadata.Interface
	cfg       Config
	self      *selfmetrics.Metrics

	// Requests times the exporter's own API requests (verb, resource, code).
	Requests *prometheus.HistogramVec
	// WatchEvents, WatchRestarts and Relists are the watch health of every
	// resource the collectors watch.
	WatchEvents   *prometheus.CounterVec
	WatchRestarts *prometheus.CounterVec
	Relists       *prometheus.CounterVec
}

// Metric names of the component's instruments, which the client collector
// serves (kubeapi_exporter's metric table documents them).
const (
	RequestDurationName = "kubeapi_request_duration_seconds"
	WatchEventsName     = "kubeapi_watch_events_total"
	WatchRestartsName   = "kubeapi_watch_restarts_total"
	RelistsName         = "kubeapi_relists_total"
)

// RequestBuckets are the buckets of kubeapi_request_duration_seconds.
var RequestBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}

// New builds the component from a REST configuration.
func New(cfg *rest.Config, c Config, self *selfmetrics.Metrics) (*Client, error) {
	if c.Shards == 0 {
		c.Shards = 1
	}
	if c.QPS == 0 {
		c.QPS, c.Burst = 20, 40
	}
	k := &Client{
		cfg:  c,
		self: self,
		Requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: RequestDurationName, Help: "help", Buckets: RequestBuckets,
		}, []string{"verb", "resource", "code"}),
		WatchEvents:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: WatchEventsName, Help: "help"}, []string{"resource", "type"}),
		WatchRestarts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: WatchRestartsName, Help: "help"}, []string{"resource", "reason"}),
		Relists:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: RelistsName, Help: "help"}, []string{"resource"}),
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = float32(c.QPS), c.Burst
	cfg.Timeout = 0 // watches must outlive it: lists get --kube.timeout from their context
	cfg.UserAgent = "kubeapi_exporter"
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &timedTransport{next: rt, hist: k.Requests} })
	var err error
	if k.Clientset, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("building the clientset: %w", err)
	}
	if k.Metadata, err = metadata.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("building the metadata client: %w", err)
	}
	return k, nil
}

// RequestTimeout is --kube.timeout: the deadline of each list.
func (k *Client) RequestTimeout() time.Duration {
	if k.cfg.Timeout <= 0 {
		return 30 * time.Second
	}
	return k.cfg.Timeout
}

// Owns reports whether this replica's shard reports the object with uid.
func (k *Client) Owns(uid types.UID) bool {
	if k.cfg.Shards <= 1 {
		return true
	}
	return ShardOf(uid, k.cfg.Shards) == k.cfg.Shard
}

// ShardOf returns the shard of uid among shards: FNV-1a of the UID.
func ShardOf(uid types.UID, shards int) int {
	h := fnv.New64a()
	h.Write([]byte(uid))
	return int(h.Sum64() % uint64(shards))
}

// Allowed reports whether namespace passes the allowlist and denylist.
func (k *Client) Allowed(namespace string) bool {
	if len(k.cfg.Namespaces) > 0 && !slices.Contains(k.cfg.Namespaces, namespace) {
		return false
	}
	return !slices.Contains(k.cfg.ExcludeNamespaces, namespace)
}

// Selects reports whether the collectors report an object: in this shard
// and in an allowed namespace.
func (k *Client) Selects(namespace string, uid types.UID) bool {
	return k.Allowed(namespace) && k.Owns(uid)
}

// Self returns the exporter's self-metrics.
func (k *Client) Self() *selfmetrics.Metrics { return k.self }

// NamespaceLabels caps the namespace label values of one metric: the first
// max namespaces seen keep their name, later ones are reported as
// limits.OverflowLabel (counted once each in
// <ns>_exporter_series_overflow_total{metric}).
type NamespaceLabels struct {
	mu      sync.Mutex
	limiter *limits.Limiter
	seen    map[string]string
}

// NewNamespaceLabels returns the namespace cap of metric.
func NewNamespaceLabels(metric string, max int, self *selfmetrics.Metrics) *NamespaceLabels {
	return &NamespaceLabels{limiter: limits.New(metric, max, self), seen: make(map[string]string)}
}

// Label returns namespace's label value.
func (n *NamespaceLabels) Label(namespace string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	if v, ok := n.seen[namespace]; ok {
		return v
	}
	v := namespace
	if !n.limiter.Admit(namespace) {
		v = limits.OverflowLabel
	}
	n.seen[namespace] = v
	return v
}

// timedTransport observes each request's duration by verb, resource and
// status code.
type timedTransport struct {
	next http.RoundTripper
	hist *prometheus.HistogramVec
}

func (t *timedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(req)
	if err != nil {
		return resp, err // never reached the server's answer: not timed
	}
	verb, resource := RequestVerbResource(req.Method, req.URL.Path, req.URL.Query().Get("watch"))
	t.hist.WithLabelValues(verb, resource, strconv.Itoa(resp.StatusCode)).Observe(time.Since(start).Seconds())
	return resp, nil
}

// RequestVerbResource names an API request as the API server's audit log
// does: verb (get, list, watch, create, update, patch, delete) and resource
// ("pods", "pods/status"; "" for non-resource paths such as /version).
func RequestVerbResource(method, path, watchParam string) (verb, resource string) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	// /api/v1/... or /apis/<group>/<version>/...
	var rest []string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		rest = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		rest = parts[3:]
	}
	watch := false
	if len(rest) > 0 && rest[0] == "watch" {
		watch, rest = true, rest[1:]
	}
	if len(rest) >= 2 && rest[0] == "namespaces" && len(rest) != 2 {
		rest = rest[2:] // namespaced resource; /namespaces/<name> itself stays
	}
	named := false
	switch len(rest) {
	case 0:
	case 1:
		resource = rest[0]
	case 2:
		resource, named = rest[0], true
	default:
		resource, named = rest[0]+"/"+rest[2], true
	}
	if watchParam == "true" || watchParam == "1" {
		watch = true
	}
	switch {
	case watch:
		verb = "watch"
	case method == http.MethodGet && (named || resource == ""):
		verb = "get"
	case method == http.MethodGet:
		verb = "list"
	case method == http.MethodPost:
		verb = "create"
	case method == http.MethodPut:
		verb = "update"
	case method == http.MethodPatch:
		verb = "patch"
	case method == http.MethodDelete && named:
		verb = "delete"
	case method == http.MethodDelete:
		verb = "deletecollection"
	default:
		verb = strings.ToLower(method)
	}
	return verb, resource
}
