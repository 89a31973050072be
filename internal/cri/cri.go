// Package cri is bpfleet's one client of a container runtime's CRI socket
// (containerd, CRI-O): the exporter component "cri" with the fleet's one
// spelling of the runtime endpoint flags (--cri.endpoint, --cri.timeout),
// the gRPC connection, and a cached directory of which pod and container
// each container or sandbox id belongs to, named as the kubelet names them.
package cri

import (
	"context"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/bpfleet/bpfleet/internal/exporter"
)

// ComponentName is the name of the Client component; its flags are
// --cri.<option>.
const ComponentName = "cri"

// Defaults of the component's flags.
const (
	DefaultEndpoint = "unix:///run/containerd/containerd.sock"
	DefaultTimeout  = 2 * time.Second
)

// Component is the CRI client shared by an exporter's collectors and
// components. Flags: --cri.endpoint (empty: no CRI, pod labels stay empty)
// and --cri.timeout.
var Component = exporter.ComponentSpec{
	Name: ComponentName,
	Flags: func(fs *exporter.FlagSet) exporter.NewComponent {
		endpoint := fs.Flag("endpoint", "CRI socket of the container runtime, to name the pods and containers of workloads (CRI-O: unix:///run/crio/crio.sock); empty disables CRI.").
			Default(DefaultEndpoint).String()
		timeout := fs.Flag("timeout", "Timeout of one CRI request.").Default(DefaultTimeout.String()).Duration()
		fs.Validate(func() error {
			if *timeout <= 0 {
				return fmt.Errorf("--cri.timeout: must be positive, got %s", *timeout)
			}
			return nil
		})
		return func(_ context.Context, env exporter.Env) (any, error) {
			return New(*endpoint, *timeout, env.Logger)
		}
	},
}

// FromEnv returns the exporter's CRI Client (Component), once constructed.
func FromEnv(ctx context.Context, env exporter.Env) (*Client, error) {
	return exporter.Use[*Client](ctx, env, ComponentName)
}

// Labels that the kubelet puts on every CRI sandbox and container.
const (
	LabelPodNamespace  = "io.kubernetes.pod.namespace"
	LabelPodName       = "io.kubernetes.pod.name"
	LabelPodUID        = "io.kubernetes.pod.uid"
	LabelContainerName = "io.kubernetes.container.name"
)

// refreshInterval is the shortest time between two listings of the
// runtime's containers by Lookup.
const refreshInterval = time.Second

// maxMsgSize is the largest CRI reply accepted, as the kubelet does: a
// node with many containers exceeds gRPC's default of 4 MiB.
const maxMsgSize = 16 << 20

// reconnect is how gRPC reconnects to a runtime that went away: exponential
// backoff with jitter from 100ms, capped at 5s, so that metrics come back
// within seconds of a runtime restart.
var reconnect = backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: 5 * time.Second}

// PodRef is what the runtime knows about a container: its pod and name.
// A sandbox (pause) container has an empty Container.
type PodRef struct {
	Namespace, Pod, Container string
}

// RequestObserver is told the duration of each CRI request that reached the
// runtime, by the method's short name (ListContainers).
type RequestObserver func(method string, d time.Duration)

// Client is a CRI client of one runtime endpoint. Lookup maps container and
// sandbox ids to pods with ListContainers and ListPodSandbox, caching the
// listings; Runtime gives the whole RuntimeService. It owns the connection
// and is safe for concurrent use. A Client of an empty endpoint is disabled:
// Lookup finds nothing and Runtime is nil.
type Client struct {
	endpoint string
	conn     *grpc.ClientConn
	runtime  runtimeapi.RuntimeServiceClient
	timeout  time.Duration
	interval time.Duration
	logger   *slog.Logger
	observer atomic.Pointer[RequestObserver]

	// refreshing is a one-slot semaphore held during a listing, so that
	// waiting for it respects the caller's deadline.
	refreshing chan struct{}

	mu        sync.Mutex
	refreshed time.Time
	failing   bool
	refs      map[string]PodRef
}

// dial creates a gRPC client of a CRI endpoint: a unix socket path, with or
// without the unix:// scheme, without TLS, accepting CRI's large list
// replies, reconnecting with backoff, telling every request to c's
// observer. It does not connect: the first request does.
func (c *Client) dial() (*grpc.ClientConn, error) {
	target := c.endpoint
	if strings.HasPrefix(target, "/") {
		target = "unix://" + target
	}
	conn, err := grpc.NewClient(target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMsgSize)),
		grpc.WithConnectParams(grpc.ConnectParams{Backoff: reconnect, MinConnectTimeout: 5 * time.Second}),
		grpc.WithUnaryInterceptor(c.observe),
	)
	if err != nil {
		return nil, fmt.Errorf("CRI endpoint %s: %w", c.endpoint, err)
	}
	return conn, nil
}

// observe tells the observer the duration of each unary request that
// reached the runtime.
func (c *Client) observe(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn,
	invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	start := time.Now()
	err := invoker(ctx, method, req, reply, cc, opts...)
	if o := c.observer.Load(); o != nil && status.Code(err) != codes.Unavailable {
		(*o)(path.Base(method), time.Since(start))
	}
	return err
}

// New creates a Client of endpoint (see Component); an empty endpoint gives
// a disabled Client. It does not connect: the first request does. logger
// (nil discards) hears when the runtime stops and starts answering Lookup.
// The caller closes the Client.
func New(endpoint string, timeout time.Duration, logger *slog.Logger) (*Client, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	c := &Client{
		endpoint:   endpoint,
		timeout:    timeout,
		interval:   refreshInterval,
		logger:     logger,
		refreshing: make(chan struct{}, 1),
		refs:       map[string]PodRef{},
	}
	if endpoint == "" {
		return c, nil
	}
	conn, err := c.dial()
	if err != nil {
		return nil, err
	}
	c.conn, c.runtime = conn, runtimeapi.NewRuntimeServiceClient(conn)
	return c, nil
}

// Enabled reports whether the Client has an endpoint.
func (c *Client) Enabled() bool { return c.conn != nil }

// Endpoint returns the endpoint the Client was made for.
func (c *Client) Endpoint() string { return c.endpoint }

// Timeout returns the timeout of one request (--cri.timeout).
func (c *Client) Timeout() time.Duration { return c.timeout }

// Runtime returns the runtime service; nil when disabled.
func (c *Client) Runtime() runtimeapi.RuntimeServiceClient { return c.runtime }

// ObserveRequests has o told about every later request (one observer; a
// second call replaces the first; nil stops observing).
func (c *Client) ObserveRequests(o RequestObserver) {
	if o == nil {
		c.observer.Store(nil)
		return
	}
	c.observer.Store(&o)
}

// Lookup returns the pod of container (or sandbox) id. On a miss it lists
// the runtime's containers again, at most once per second, and returns
// within the client's timeout and ctx.
func (c *Client) Lookup(ctx context.Context, id string) (PodRef, bool) {
	if !c.Enabled() {
		return PodRef{}, false
	}
	if ref, ok := c.cached(id); ok {
		return ref, true
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	select {
	case c.refreshing <- struct{}{}:
	case <-ctx.Done():
		return PodRef{}, false
	}
	defer func() { <-c.refreshing }()
	if ref, ok := c.cached(id); ok {
		return ref, true
	}
	if !c.due() {
		return PodRef{}, false
	}
	c.refresh(ctx)
	return c.cached(id)
}

func (c *Client) cached(id string) (PodRef, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ref, ok := c.refs[id]
	return ref, ok
}

// due reports whether a listing may start now, and if so records it.
func (c *Client) due() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if !c.refreshed.IsZero() && now.Sub(c.refreshed) < c.interval {
		return false
	}
	c.refreshed = now
	return true
}

// refresh replaces the cached listing. A failure keeps the old one and is
// logged when the runtime goes from answering to failing, as is recovery.
func (c *Client) refresh(ctx context.Context) {
	refs, err := c.list(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if !c.failing {
			c.logger.Warn("CRI unavailable, pod labels left empty", "endpoint", c.endpoint, "err", err)
		}
		c.failing = true
		return
	}
	if c.failing {
		c.logger.Info("CRI available again", "endpoint", c.endpoint)
	}
	c.failing = false
	c.refs = refs
}

func (c *Client) list(ctx context.Context) (map[string]PodRef, error) {
	sandboxes, err := c.runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return nil, fmt.Errorf("listing pod sandboxes: %w", err)
	}
	containers, err := c.runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	return Index(sandboxes.GetItems(), containers.GetContainers()), nil
}

// Close closes the connection.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

// Index maps sandbox and container ids to their pods, as Lookup does.
// Names come from the kubelet's labels, else from the CRI metadata; a
// container without pod labels takes its sandbox's.
func Index(sandboxes []*runtimeapi.PodSandbox, containers []*runtimeapi.Container) map[string]PodRef {
	refs := make(map[string]PodRef, len(sandboxes)+len(containers))
	for _, s := range sandboxes {
		refs[s.GetId()] = Name(s.GetLabels(), "", s.GetMetadata())
	}
	for _, ctr := range containers {
		pod := refs[ctr.GetPodSandboxId()]
		refs[ctr.GetId()] = Name(ctr.GetLabels(), ctr.GetMetadata().GetName(),
			&runtimeapi.PodSandboxMetadata{Namespace: pod.Namespace, Name: pod.Pod})
	}
	return refs
}

// Name names a container (or, with an empty name and no container label, a
// sandbox) as the kubelet does: from its io.kubernetes.* labels, else from
// its CRI name and its sandbox's metadata.
func Name(labels map[string]string, name string, sandbox *runtimeapi.PodSandboxMetadata) PodRef {
	return PodRef{
		Namespace: orElse(labels[LabelPodNamespace], sandbox.GetNamespace()),
		Pod:       orElse(labels[LabelPodName], sandbox.GetName()),
		Container: orElse(labels[LabelContainerName], name),
	}
}

func orElse(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}
