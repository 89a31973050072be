package collector

import (
	"context"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/kubeapi_exporter/kube"
)

var podsSpec = exporter.Spec{
	Name:      "pods",
	Help:      "Pod startup latency by phase, containers waiting by reason and container terminations by reason.",
	Default:   true,
	MaxSeries: 1000,
	Constructor: func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
		k, err := kube.FromEnv(ctx, env)
		if err != nil {
			return nil, err
		}
		return newPods(k, env.MaxSeries)
	},
}

// StartupBuckets are the buckets of kubeapi_pod_startup_duration_seconds.
var StartupBuckets = []float64{0.5, 1, 2.5, 5, 10, 15, 30, 60, 120, 300, 600, 1800}

// StartupPhases maps a Pod condition to its phase label, in order.
var StartupPhases = []struct {
	Condition corev1.PodConditionType
	Phase     string
}{
	{corev1.PodScheduled, "scheduled"},
	{corev1.PodInitialized, "initialized"},
	{corev1.ContainersReady, "containers_ready"},
	{corev1.PodReady, "ready"},
}

type podState struct {
	namespace string
	observed  uint8                // bit i: StartupPhases[i] observed
	waiting   map[string]int       // reason → containers waiting
	counted   map[string][2]string // container → the last two terminations counted
}

// pods serves startup latency, waiting containers and terminations.
type pods struct {
	k            *kube.Client
	watch        *kube.Watch
	startupNS    *kube.NamespaceLabels
	waitingNS    *kube.NamespaceLabels
	terminatedNS *kube.NamespaceLabels
	startup      *prometheus.HistogramVec
	terminations *prometheus.CounterVec

	mu      sync.Mutex
	state   map[types.UID]*podState
	waiting map[[2]string]int // namespace label, reason → containers
}

func newPods(k *kube.Client, maxNamespaces int) (*pods, error) {
	c := &pods{
		k:            k,
		startupNS:    kube.NewNamespaceLabels(podStartup.Name, maxNamespaces, k.Self()),
		waitingNS:    kube.NewNamespaceLabels(containerWaiting.Name, maxNamespaces, k.Self()),
		terminatedNS: kube.NewNamespaceLabels(containerTerminations.Name, maxNamespaces, k.Self()),
		startup:      newHistogramVec(podStartup, StartupBuckets),
		terminations: newCounterVec(containerTerminations),
		state:        make(map[types.UID]*podState),
		waiting:      make(map[[2]string]int),
	}
	api := k.Clientset.CoreV1().Pods(metav1.NamespaceAll)
	w, err := k.NewWatch("pods", &corev1.Pod{}, kube.Lister{
		List:  func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return api.List(ctx, o) },
		Watch: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return api.Watch(ctx, o) },
	}, StripPod, cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.observe(obj) },
		UpdateFunc: func(_, obj any) { c.observe(obj) },
		DeleteFunc: c.forget,
	})
	if err != nil {
		return nil, err
	}
	c.watch = w
	return c, nil
}

// StripPod keeps the fields the pods collector uses.
func StripPod(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	s := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
		CreationTimestamp: p.CreationTimestamp,
	}}
	for _, cond := range p.Status.Conditions {
		s.Status.Conditions = append(s.Status.Conditions, corev1.PodCondition{
			Type: cond.Type, Status: cond.Status, LastTransitionTime: cond.LastTransitionTime,
		})
	}
	s.Status.InitContainerStatuses = stripStatuses(p.Status.InitContainerStatuses)
	s.Status.ContainerStatuses = stripStatuses(p.Status.ContainerStatuses)
	return s, nil
}

func stripStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	if len(in) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, len(in))
	for i, cs := range in {
		out[i] = corev1.ContainerStatus{Name: cs.Name,
			State: stripState(cs.State), LastTerminationState: stripState(cs.LastTerminationState)}
	}
	return out
}

func stripState(s corev1.ContainerState) corev1.ContainerState {
	var out corev1.ContainerState
	if s.Waiting != nil {
		out.Waiting = &corev1.ContainerStateWaiting{Reason: s.Waiting.Reason}
	}
	if t := s.Terminated; t != nil {
		out.Terminated = &corev1.ContainerStateTerminated{Reason: t.Reason, ExitCode: t.ExitCode,
			ContainerID: t.ContainerID, StartedAt: t.StartedAt, FinishedAt: t.FinishedAt}
	}
	return out
}

// terminationID names one termination of a container: its container ID, or
// its start, finish and exit code when the runtime gave none.
func terminationID(t *corev1.ContainerStateTerminated) string {
	if t.ContainerID != "" {
		return t.ContainerID
	}
	return t.StartedAt.UTC().String() + "/" + t.FinishedAt.UTC().String() + "/" + strconv.Itoa(int(t.ExitCode))
}

func (c *pods) observe(obj any) {
	p, ok := obj.(*corev1.Pod)
	if !ok || !c.k.Selects(p.Namespace, p.UID) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.state[p.UID]
	if st == nil {
		st = &podState{namespace: p.Namespace, counted: make(map[string][2]string)}
		c.state[p.UID] = st
	}
	// Startup: each phase once, at its condition's first True.
	for i, ph := range StartupPhases {
		if st.observed&(1<<i) != 0 {
			continue
		}
		for _, cond := range p.Status.Conditions {
			if cond.Type == ph.Condition && cond.Status == corev1.ConditionTrue && !cond.LastTransitionTime.IsZero() {
				st.observed |= 1 << i
				d := max(cond.LastTransitionTime.Sub(p.CreationTimestamp.Time).Seconds(), 0)
				c.startup.WithLabelValues(c.startupNS.Label(p.Namespace), ph.Phase).Observe(d)
			}
		}
	}
	// Waiting now: replace the pod's share.
	waiting := make(map[string]int)
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, cs := range list {
			if w := cs.State.Waiting; w != nil && w.Reason != "" {
				waiting[w.Reason]++
			}
		}
	}
	c.setWaiting(st, waiting)
	// Terminations: each new one once.
	for prefix, list := range map[string][]corev1.ContainerStatus{"init/": p.Status.InitContainerStatuses, "": p.Status.ContainerStatuses} {
		for _, cs := range list {
			for _, t := range []*corev1.ContainerStateTerminated{cs.LastTerminationState.Terminated, cs.State.Terminated} {
				if t == nil {
					continue
				}
				id, name := terminationID(t), prefix+cs.Name
				last := st.counted[name]
				if last[0] == id || last[1] == id {
					continue
				}
				st.counted[name] = [2]string{last[1], id}
				reason := t.Reason
				if reason == "" {
					reason = "Unknown"
				}
				c.terminations.WithLabelValues(c.terminatedNS.Label(p.Namespace), reason).Inc()
			}
		}
	}
}

// setWaiting replaces st's waiting containers; c.mu is held.
func (c *pods) setWaiting(st *podState, waiting map[string]int) {
	ns := c.waitingNS.Label(st.namespace)
	for reason, n := range st.waiting {
		k := [2]string{ns, reason}
		if c.waiting[k] -= n; c.waiting[k] <= 0 {
			delete(c.waiting, k)
		}
	}
	for reason, n := range waiting {
		c.waiting[[2]string{ns, reason}] += n
	}
	st.waiting = waiting
}

func (c *pods) forget(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.state[p.UID]; st != nil {
		c.setWaiting(st, nil)
		delete(c.state, p.UID)
	}
}

// Run watches Pods until ctx ends.
func (c *pods) Run(ctx context.Context) error { return c.watch.Run(ctx) }

// Update serves the pods' metrics; it fails while the watch is unhealthy.
func (c *pods) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	c.startup.Collect(ch)
	c.terminations.Collect(ch)
	desc := containerWaiting.Desc()
	c.mu.Lock()
	for k, n := range c.waiting {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
	c.mu.Unlock()
	return c.watch.Err()
}
