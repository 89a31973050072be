package workload

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// Labels that the kubelet puts on every CRI sandbox and container.
const (
	criPodNamespace  = "io.kubernetes.pod.namespace"
	criPodName       = "io.kubernetes.pod.name"
	criContainerName = "io.kubernetes.container.name"
)

// criRefreshInterval is the shortest time between two listings of the
// runtime's containers.
const criRefreshInterval = time.Second

// criMaxMsgSize is the largest CRI reply accepted, as the kubelet does: a
// node with many containers exceeds gRPC's default of 4 MiB.
const criMaxMsgSize = 16 << 20

// podRef is what the runtime knows about a container: its pod and name.
// A sandbox (pause) container has an empty Container.
type podRef struct {
	Namespace, Pod, Container string
}

// criClient maps container ids to pods with the CRI ListContainers and
// ListPodSandbox calls, caching the listings. It owns the connection.
type criClient struct {
	endpoint string
	conn     *grpc.ClientConn
	runtime  runtimeapi.RuntimeServiceClient
	timeout  time.Duration
	interval time.Duration
	logger   *slog.Logger

	// refreshing is a one-slot semaphore held during a listing, so that
	// waiting for it respects the caller's deadline.
	refreshing chan struct{}

	mu        sync.Mutex
	refreshed time.Time
	failing   bool
	refs      map[string]podRef
}

// DialCRI creates a gRPC client of a CRI endpoint: a unix socket path,
// with or without the unix:// scheme, without TLS, accepting CRI's large
// list replies; opts add to these (interceptors, reconnect backoff). It
// does not connect: the first request does. The caller closes the conn.
func DialCRI(endpoint string, opts ...grpc.DialOption) (*grpc.ClientConn, error) {
	target := endpoint
	if strings.HasPrefix(target, "/") {
		target = "unix://" + target
	}
	conn, err := grpc.NewClient(target, append([]grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(criMaxMsgSize)),
	}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("CRI endpoint %s: %w", endpoint, err)
	}
	return conn, nil
}

// newCRIClient creates a client for endpoint (see DialCRI). It does not
// connect: the first lookup does.
func newCRIClient(endpoint string, timeout time.Duration, logger *slog.Logger) (*criClient, error) {
	conn, err := DialCRI(endpoint)
	if err != nil {
		return nil, err
	}
	return &criClient{
		endpoint:   endpoint,
		conn:       conn,
		runtime:    runtimeapi.NewRuntimeServiceClient(conn),
		timeout:    timeout,
		interval:   criRefreshInterval,
		logger:     logger,
		refreshing: make(chan struct{}, 1),
		refs:       map[string]podRef{},
	}, nil
}

// lookup returns the pod of container (or sandbox) id. On a miss it lists
// the runtime's containers again, at most once per interval, and returns
// within the client's timeout.
func (c *criClient) lookup(ctx context.Context, id string) (podRef, bool) {
	if ref, ok := c.cached(id); ok {
		return ref, true
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	select {
	case c.refreshing <- struct{}{}:
	case <-ctx.Done():
		return podRef{}, false
	}
	defer func() { <-c.refreshing }()
	if ref, ok := c.cached(id); ok {
		return ref, true
	}
	if !c.due() {
		return podRef{}, false
	}
	c.refresh(ctx)
	return c.cached(id)
}

func (c *criClient) cached(id string) (podRef, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ref, ok := c.refs[id]
	return ref, ok
}

// due reports whether a listing may start now, and if so records it.
func (c *criClient) due() bool {
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
func (c *criClient) refresh(ctx context.Context) {
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

func (c *criClient) list(ctx context.Context) (map[string]podRef, error) {
	sandboxes, err := c.runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return nil, fmt.Errorf("listing pod sandboxes: %w", err)
	}
	containers, err := c.runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	return indexCRI(sandboxes.GetItems(), containers.GetContainers()), nil
}

func (c *criClient) close() error {
	return c.conn.Close()
}

// indexCRI maps sandbox and container ids to their pods. Names come from the
// kubelet's labels, else from the CRI metadata; a container without pod
// labels takes its sandbox's.
func indexCRI(sandboxes []*runtimeapi.PodSandbox, containers []*runtimeapi.Container) map[string]podRef {
	refs := make(map[string]podRef, len(sandboxes)+len(containers))
	for _, s := range sandboxes {
		refs[s.GetId()] = podRef{
			Namespace: orElse(s.GetLabels()[criPodNamespace], s.GetMetadata().GetNamespace()),
			Pod:       orElse(s.GetLabels()[criPodName], s.GetMetadata().GetName()),
		}
	}
	for _, ctr := range containers {
		pod := refs[ctr.GetPodSandboxId()]
		refs[ctr.GetId()] = podRef{
			Namespace: orElse(ctr.GetLabels()[criPodNamespace], pod.Namespace),
			Pod:       orElse(ctr.GetLabels()[criPodName], pod.Pod),
			Container: orElse(ctr.GetLabels()[criContainerName], ctr.GetMetadata().GetName()),
		}
	}
	return refs
}

func orElse(s, fallback string) string {
	if s != "" {
		return s
	}
	return fallback
}
