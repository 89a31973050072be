package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/bpfleet/bpfleet/internal/cri"
	"github.com/bpfleet/bpfleet/internal/exporter"
)

// Descriptors of the cri collector's constant metrics.
var (
	runtimeInfoDesc           = runtimeInfo.Desc()
	runtimeConditionDesc      = runtimeCondition.Desc()
	podSandboxesDesc          = podSandboxes.Desc()
	containersDesc            = containers.Desc()
	containerInfoDesc         = containerInfo.Desc()
	containerRestartsDesc     = containerRestarts.Desc()
	containerExitsDesc        = containerExits.Desc()
	containerLastExitCodeDesc = containerLastExitCode.Desc()
)

// sandboxStates and containerStates name the CRI states in the state label;
// every state is served, 0 included.
var (
	sandboxStates = map[runtimeapi.PodSandboxState]string{
		runtimeapi.PodSandboxState_SANDBOX_READY:    "ready",
		runtimeapi.PodSandboxState_SANDBOX_NOTREADY: "notready",
	}
	containerStates = map[runtimeapi.ContainerState]string{
		runtimeapi.ContainerState_CONTAINER_CREATED: "created",
		runtimeapi.ContainerState_CONTAINER_RUNNING: "running",
		runtimeapi.ContainerState_CONTAINER_EXITED:  "exited",
		runtimeapi.ContainerState_CONTAINER_UNKNOWN: "unknown",
	}
)

// errNoEndpoint is why the cri collector is unsupported when the exporter's
// CRI client is disabled.
var errNoEndpoint = fmt.Errorf("the cri collector needs a CRI socket and --cri.endpoint is empty: %w", errors.ErrUnsupported)

// newRequestDuration is cri_request_duration_seconds: classic buckets from
// 1ms to 10s and a native histogram (factor 1.1).
func newRequestDuration() *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:                            requestDuration.Name,
		Help:                            requestDuration.Help,
		Buckets:                         []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		NativeHistogramBucketFactor:     1.1,
		NativeHistogramMaxBucketNumber:  100,
		NativeHistogramMinResetDuration: time.Hour,
	}, requestDuration.LabelNames())
}

// criCollector serves what the runtime says over CRI. It lists the
// runtime's pods and containers at every scrape and, in the background
// (Run), every poll interval, so that a container that exits and is removed
// between two scrapes is still counted; where the runtime streams container
// events (CRI GetContainerEvents), exits are counted from them too. Each
// exit is counted once, whichever path sees it first.
type criCollector struct {
	client   *cri.Client
	runtime  runtimeapi.RuntimeServiceClient
	interval time.Duration
	logger   *slog.Logger
	duration *prometheus.HistogramVec

	mu    sync.Mutex // serializes polls and guards the state below
	state *exitState
	last  listing // the latest successful listing
}

// listing is one answer of ListPodSandbox and ListContainers.
type listing struct {
	sandboxes  []*runtimeapi.PodSandbox
	containers []*runtimeapi.Container
	keys       map[string]containerKey // by container id
}

// newCRI constructs the cri collector on the exporter's CRI client, which
// times its requests into cri_request_duration_seconds. Without a CRI
// endpoint the collector is unsupported.
func newCRI(ctx context.Context, env exporter.Env, poll time.Duration) (exporter.Collector, error) {
	client, err := cri.FromEnv(ctx, env)
	if err != nil {
		return nil, err
	}
	if !client.Enabled() {
		return nil, errNoEndpoint
	}
	c := &criCollector{client: client, runtime: client.Runtime(), interval: poll, logger: env.Logger,
		duration: newRequestDuration(), state: newExitState()}
	client.ObserveRequests(func(method string, d time.Duration) {
		c.duration.WithLabelValues(method).Observe(d.Seconds())
	})
	return c, nil
}

// request bounds one CRI request by the client's timeout (--cri.timeout).
func (c *criCollector) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.client.Timeout())
}

// Run polls the runtime every poll interval and counts exits from its event
// stream, until ctx is done.
func (c *criCollector) Run(ctx context.Context) error {
	return exporter.RunAll(exporter.RunFunc(c.pollEvery), exporter.RunFunc(c.watchEvents)).Run(ctx)
}

// pollEvery polls until ctx is done. A failed poll is not a failure of the
// background work: the next tick polls again, and every scrape polls too
// and reports the runtime's failure (cri_scrape_collector_success 0).
func (c *criCollector) pollEvery(ctx context.Context) error {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := c.poll(ctx); err != nil && ctx.Err() == nil {
				c.logger.Debug("Background poll failed", "err", err)
			}
		}
	}
}

// poll lists the runtime's pods and containers, counts the exits it had not
// seen and records the listing.
func (c *criCollector) poll(ctx context.Context) error {
	l, err := c.list(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for _, ctr := range l.containers {
		if ctr.GetState() != runtimeapi.ContainerState_CONTAINER_EXITED || c.state.seenExit(ctr.GetId()) {
			continue
		}
		st, err := c.containerStatus(ctx, ctr.GetId())
		if status.Code(err) == codes.NotFound {
			continue // removed since the listing; its exit is lost
		}
		if err != nil {
			return err
		}
		c.state.exited(ctr.GetId(), l.keys[ctr.GetId()], exitOf(st))
	}
	c.state.listed(now, l.keys)
	c.last = l
	return nil
}

func (c *criCollector) list(ctx context.Context) (listing, error) {
	rctx, cancel := c.request(ctx)
	defer cancel()
	sandboxes, err := c.runtime.ListPodSandbox(rctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return listing{}, fmt.Errorf("listing pod sandboxes: %w", err)
	}
	ctrs, err := c.runtime.ListContainers(rctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		return listing{}, fmt.Errorf("listing containers: %w", err)
	}
	l := listing{sandboxes: sandboxes.GetItems(), containers: ctrs.GetContainers()}
	refs := cri.Index(l.sandboxes, l.containers)
	l.keys = make(map[string]containerKey, len(l.containers))
	for _, ctr := range l.containers {
		l.keys[ctr.GetId()] = containerKey(refs[ctr.GetId()])
	}
	return l, nil
}

func (c *criCollector) containerStatus(ctx context.Context, id string) (*runtimeapi.ContainerStatus, error) {
	rctx, cancel := c.request(ctx)
	defer cancel()
	resp, err := c.runtime.ContainerStatus(rctx, &runtimeapi.ContainerStatusRequest{ContainerId: id})
	if err != nil {
		return nil, fmt.Errorf("container %s status: %w", id, err)
	}
	return resp.GetStatus(), nil
}

// watchEvents counts exits from the runtime's event stream until ctx is
// done or the stream breaks (an error: the scaffold opens it again with
// backoff). It waits for the runtime to be up rather than failing while it
// is down. A runtime that streams no events (containerd before 1.7) ends
// it for good: polling alone counts exits then.
func (c *criCollector) watchEvents(ctx context.Context) error {
	err := c.streamEvents(ctx)
	switch {
	case ctx.Err() != nil:
		return nil
	case status.Code(err) == codes.Unimplemented:
		c.logger.Info("Runtime streams no container events; counting exits from listings every poll interval",
			"poll_interval", c.interval)
		return nil
	}
	return fmt.Errorf("container event stream: %w", err)
}

func (c *criCollector) streamEvents(ctx context.Context) error {
	stream, err := c.runtime.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{}, grpc.WaitForReady(true))
	if err != nil {
		return err
	}
	for {
		ev, err := stream.Recv()
		if err != nil {
			return err
		}
		if id, k, e, ok := exitOfEvent(ev); ok {
			c.mu.Lock()
			c.state.exited(id, k, e)
			c.mu.Unlock()
		}
	}
}

// Update polls the runtime and serves its answers. When the runtime does
// not answer, it serves nothing and returns the error: the scrape reports
// success 0 until the runtime is back.
func (c *criCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	version, err := c.version(ctx)
	if err != nil {
		return err
	}
	st, err := c.status(ctx)
	if err != nil {
		return err
	}
	if err := c.poll(ctx); err != nil {
		return err
	}
	ch <- prometheus.MustNewConstMetric(runtimeInfoDesc, prometheus.GaugeValue, 1,
		version.GetRuntimeName(), version.GetRuntimeVersion(), version.GetRuntimeApiVersion())
	for _, cond := range st.GetStatus().GetConditions() {
		ch <- prometheus.MustNewConstMetric(runtimeConditionDesc, prometheus.GaugeValue, boolValue(cond.GetStatus()), cond.GetType())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	emitStates(ch, c.last)
	emitContainers(ch, c.last)
	c.state.emit(ch)
	c.duration.Collect(ch)
	return nil
}

func (c *criCollector) version(ctx context.Context) (*runtimeapi.VersionResponse, error) {
	rctx, cancel := c.request(ctx)
	defer cancel()
	v, err := c.runtime.Version(rctx, &runtimeapi.VersionRequest{})
	if err != nil {
		return nil, fmt.Errorf("runtime version: %w", err)
	}
	return v, nil
}

func (c *criCollector) status(ctx context.Context) (*runtimeapi.StatusResponse, error) {
	rctx, cancel := c.request(ctx)
	defer cancel()
	st, err := c.runtime.Status(rctx, &runtimeapi.StatusRequest{})
	if err != nil {
		return nil, fmt.Errorf("runtime status: %w", err)
	}
	return st, nil
}

// emitStates serves the number of sandboxes and containers in each state.
func emitStates(ch chan<- prometheus.Metric, l listing) {
	sandboxes := map[string]int{}
	for _, s := range l.sandboxes {
		sandboxes[sandboxStates[s.GetState()]]++
	}
	for _, state := range sandboxStates {
		ch <- prometheus.MustNewConstMetric(podSandboxesDesc, prometheus.GaugeValue, float64(sandboxes[state]), state)
	}
	counts := map[string]int{}
	for _, ctr := range l.containers {
		counts[containerStates[ctr.GetState()]]++
	}
	for _, state := range containerStates {
		ch <- prometheus.MustNewConstMetric(containersDesc, prometheus.GaugeValue, float64(counts[state]), state)
	}
}

// emitContainers serves each container's info and each container key's
// restarts: the highest attempt number among its instances.
func emitContainers(ch chan<- prometheus.Metric, l listing) {
	restarts := map[containerKey]uint32{}
	for _, ctr := range l.containers {
		k := l.keys[ctr.GetId()]
		ch <- prometheus.MustNewConstMetric(containerInfoDesc, prometheus.GaugeValue, 1,
			append(k.values(), ctr.GetId(), imageOf(ctr))...)
		restarts[k] = max(restarts[k], ctr.GetMetadata().GetAttempt())
	}
	for k, n := range restarts {
		ch <- prometheus.MustNewConstMetric(containerRestartsDesc, prometheus.GaugeValue, float64(n), k.values()...)
	}
}

// imageOf returns the image as the pod spec named it where the runtime
// says, else the image the runtime resolved it to.
func imageOf(ctr *runtimeapi.Container) string {
	return orElse(ctr.GetImage().GetUserSpecifiedImage(), orElse(ctr.GetImage().GetImage(), ctr.GetImageRef()))
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Close stops timing the shared client's requests; the client is the
// exporter's, closed by it.
func (c *criCollector) Close() error {
	c.client.ObserveRequests(func(string, time.Duration) {})
	return nil
}
