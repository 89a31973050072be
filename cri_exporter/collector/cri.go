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

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/retry"
)

var (
	runtimeInfoDesc = newDesc("runtime_info", "The container runtime behind the CRI socket; always 1.",
		"runtime_name", "runtime_version", "runtime_api_version")
	runtimeConditionDesc = newDesc("runtime_condition", "1 when the runtime reports the condition (RuntimeReady, NetworkReady, ...) true, 0 when false.",
		"condition")
	podSandboxesDesc  = newDesc("pod_sandboxes", "Pod sandboxes the runtime has, by state: ready or notready.", "state")
	containersDesc    = newDesc("containers", "Containers the runtime has, by state: created, running, exited or unknown.", "state")
	containerInfoDesc = newDesc("container_info", "A container the runtime has, with its id and image; always 1.",
		append(containerLabels, "container_id", "image")...)
	containerRestartsDesc = newDesc("container_restarts", "The CRI attempt number of the container's latest instance: how often the kubelet restarted it.",
		containerLabels...)
	containerExitsDesc = newDesc("container_exits_total", "Container exits seen since the exporter started, by reason: completed (code 0), error (1-128), signal (above 128), oom_killed.",
		append(containerLabels, "reason")...)
	containerLastExitCodeDesc = newDesc("container_last_exit_code", "Exit code of the container's latest exited instance.",
		containerLabels...)
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

// criCollector serves what the runtime says over CRI. It lists the
// runtime's pods and containers at every scrape and, in the background,
// every PollInterval, so that a container that exits and is removed
// between two scrapes is still counted; where the runtime streams
// container events (CRI GetContainerEvents), exits are counted from them
// too. Each exit is counted once, whichever path sees it first.
type criCollector struct {
	cfg      config
	logger   *slog.Logger
	conn     *grpc.ClientConn
	runtime  runtimeClient
	duration *prometheus.HistogramVec
	dir      *directory
	stop     context.CancelFunc
	done     sync.WaitGroup

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

// newCRI returns the cri collector's constructor: it reads cfg once the
// command line is parsed, and records container ids in dir for oom.
func newCRI(cfg *config, dir *directory) exporter.New {
	return func(_ context.Context, env exporter.Env) (exporter.Collector, error) {
		c := &criCollector{cfg: *cfg, logger: env.Logger, duration: newRequestDuration(), dir: dir, state: newExitState()}
		var err error
		if c.conn, err = dial(c.cfg.Endpoint, c.duration); err != nil {
			return nil, err
		}
		c.runtime = runtimeapi.NewRuntimeServiceClient(c.conn)
		ctx, stop := context.WithCancel(context.Background())
		c.stop = stop
		c.done.Go(func() { c.pollEvery(ctx) })
		c.done.Go(func() { c.watchEvents(ctx) })
		return c, nil
	}
}

// request bounds one CRI request by the configured timeout.
func (c *criCollector) request(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.Timeout)
}

// pollEvery polls until ctx is done; failures are served at the next scrape.
func (c *criCollector) pollEvery(ctx context.Context) {
	t := time.NewTicker(c.cfg.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = c.poll(ctx)
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
	c.dir.update(now, l.keys)
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
	containers, err := c.runtime.ListContainers(rctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		return listing{}, fmt.Errorf("listing containers: %w", err)
	}
	l := listing{sandboxes: sandboxes.GetItems(), containers: containers.GetContainers(), keys: map[string]containerKey{}}
	pods := make(map[string]*runtimeapi.PodSandboxMetadata, len(l.sandboxes))
	for _, s := range l.sandboxes {
		pods[s.GetId()] = s.GetMetadata()
	}
	for _, ctr := range l.containers {
		l.keys[ctr.GetId()] = keyOf(ctr.GetLabels(), ctr.GetMetadata().GetName(), pods[ctr.GetPodSandboxId()])
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

// watchEvents counts exits from the runtime's event stream, reconnecting
// with backoff, until ctx is done or the runtime says it has no stream
// (containerd before 1.7): polling alone then counts exits.
func (c *criCollector) watchEvents(ctx context.Context) {
	err := retry.Do(ctx, func(ctx context.Context) error {
		err := c.streamEvents(ctx)
		if status.Code(err) == codes.Unimplemented {
			return retry.Permanent(err)
		}
		return err
	})
	if status.Code(err) == codes.Unimplemented {
		c.logger.Info("Runtime streams no container events; counting exits from listings every poll interval",
			"poll_interval", c.cfg.PollInterval)
	}
}

func (c *criCollector) streamEvents(ctx context.Context) error {
	stream, err := c.runtime.GetContainerEvents(ctx, &runtimeapi.GetEventsRequest{})
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
	containers := map[string]int{}
	for _, ctr := range l.containers {
		containers[containerStates[ctr.GetState()]]++
	}
	for _, state := range containerStates {
		ch <- prometheus.MustNewConstMetric(containersDesc, prometheus.GaugeValue, float64(containers[state]), state)
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

// Close stops the background polling and the event stream and closes the
// connection.
func (c *criCollector) Close() error {
	c.stop()
	c.done.Wait()
	return errors.Join(c.conn.Close())
}
