package collector

import (
	"context"
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

var eventsSpec = exporter.Spec{
	Name:      "events",
	Help:      "Kubernetes Events by namespace, involved kind, reason and type, each occurrence once.",
	Default:   true,
	MaxSeries: 1000,
	Constructor: func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
		k, err := kube.FromEnv(ctx, env)
		if err != nil {
			return nil, err
		}
		return newEvents(k, env.MaxSeries)
	},
}

// events counts Event occurrences. An Event's occurrences are its count
// (core/v1) or series.count (events.k8s.io/v1), at least 1; the collector
// remembers the occurrences it has counted per Event UID, so a relist or a
// reopened watch, which hand it the same Events again, adds only what is
// new.
type events struct {
	k      *kube.Client
	watch  *kube.Watch
	ns     *kube.NamespaceLabels
	total  *prometheus.CounterVec
	mu     sync.Mutex
	counts map[types.UID]int32
}

func newEvents(k *kube.Client, maxNamespaces int) (*events, error) {
	c := &events{
		k:      k,
		ns:     kube.NewNamespaceLabels(eventsTotal.Name, maxNamespaces, k.Self()),
		total:  newCounterVec(eventsTotal),
		counts: make(map[types.UID]int32),
	}
	api := k.Clientset.CoreV1().Events(metav1.NamespaceAll)
	w, err := k.NewWatch("events", &corev1.Event{}, kube.Lister{
		List: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return api.List(ctx, o) },
		Watch: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return api.Watch(ctx, o)
		},
	}, StripEvent, cache.ResourceEventHandlerFuncs{
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

// StripEvent keeps the fields the events collector uses.
func StripEvent(obj any) (any, error) {
	e, ok := obj.(*corev1.Event)
	if !ok {
		return obj, nil
	}
	s := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{
			Name: e.Name, Namespace: e.Namespace, UID: e.UID, ResourceVersion: e.ResourceVersion,
		},
		InvolvedObject: corev1.ObjectReference{Kind: e.InvolvedObject.Kind},
		Reason:         e.Reason,
		Type:           e.Type,
		Count:          e.Count,
	}
	if e.Series != nil {
		s.Series = &corev1.EventSeries{Count: e.Series.Count}
	}
	return s, nil
}

// Occurrences returns how often e happened: the largest of count and
// series.count, at least 1.
func Occurrences(e *corev1.Event) int32 {
	n := max(e.Count, 1)
	if e.Series != nil {
		n = max(n, e.Series.Count)
	}
	return n
}

func (c *events) observe(obj any) {
	e, ok := obj.(*corev1.Event)
	if !ok || !c.k.Selects(e.Namespace, e.UID) {
		return
	}
	n := Occurrences(e)
	c.mu.Lock()
	seen := c.counts[e.UID]
	if n > seen {
		c.counts[e.UID] = n
	}
	c.mu.Unlock()
	if n > seen {
		c.total.WithLabelValues(c.ns.Label(e.Namespace), e.InvolvedObject.Kind, e.Reason, e.Type).Add(float64(n - seen))
	}
}

func (c *events) forget(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if e, ok := obj.(*corev1.Event); ok {
		c.mu.Lock()
		delete(c.counts, e.UID)
		c.mu.Unlock()
	}
}

// Run watches Events until ctx ends.
func (c *events) Run(ctx context.Context) error { return c.watch.Run(ctx) }

// Update serves the counts; it fails while the watch is unhealthy.
func (c *events) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	c.total.Collect(ch)
	return c.watch.Err()
}
