// Package collector holds kubeapi_exporter's collectors: Events, pods
// (startup latency, waiting and terminated containers), object writes by
// field manager, and the exporter's own client (request durations and watch
// health). Each watches the API server through reflector-based informers
// (a Runner) whose transform strips objects to the fields the metrics use.
package collector

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/catalog"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/kubeapi_exporter/kube"
)

// metrics is kubeapi_exporter's metric table.
var metrics catalog.Catalog

// Catalog returns every metric of kubeapi_exporter's collectors.
func Catalog() *catalog.Catalog { return &metrics }

// Specs returns the collectors.
func Specs() []exporter.Spec {
	return []exporter.Spec{eventsSpec, podsSpec, writesSpec, clientSpec}
}

var (
	eventsTotal = metrics.Add(catalog.Metric{
		Name:      "kubeapi_events_total",
		Help:      "Occurrences of Kubernetes Events (core/v1, which also serves events.k8s.io/v1), count and series increments included; each occurrence counted once across relists and watch restarts.",
		Type:      catalog.Counter,
		Collector: "events",
		Labels:    []string{"namespace", "involved_kind", "reason", "type"},
	})
	podStartup = metrics.Add(catalog.Metric{
		Name:      "kubeapi_pod_startup_duration_seconds",
		Help:      "Time from a Pod's creation to each condition's first transition to True, by phase: scheduled, initialized, containers_ready, ready.",
		Type:      catalog.Histogram,
		Collector: "pods",
		Labels:    []string{"namespace", "phase"},
	})
	containerWaiting = metrics.Add(catalog.Metric{
		Name:      "kubeapi_pod_container_waiting",
		Help:      "Containers (init containers included) waiting now, by reason (CrashLoopBackOff, ImagePullBackOff, ...).",
		Type:      catalog.Gauge,
		Collector: "pods",
		Labels:    []string{"namespace", "reason"},
	})
	containerTerminations = metrics.Add(catalog.Metric{
		Name:      "kubeapi_pod_container_terminations_total",
		Help:      "Container terminations (each new state or lastState.terminated, counted once), by reason (OOMKilled, Error, Completed, ...).",
		Type:      catalog.Counter,
		Collector: "pods",
		Labels:    []string{"namespace", "reason"},
	})
	objectWrites = metrics.Add(catalog.Metric{
		Name:      "kubeapi_object_writes_total",
		Help:      "Writes seen by the watch, by resource, operation (create, update, delete) and the field manager whose managedFields entry changed; deletes have manager \"unknown\" (the API does not record who deletes).",
		Type:      catalog.Counter,
		Collector: "writes",
		Labels:    []string{"resource", "operation", "manager"},
	})
	watchEvents = metrics.Add(catalog.Metric{
		Name:      kube.WatchEventsName,
		Help:      "Events received by the exporter's own watches, by resource and type (ADDED, MODIFIED, DELETED, BOOKMARK, ERROR).",
		Type:      catalog.Counter,
		Collector: "client",
		Labels:    []string{"resource", "type"},
	})
	watchRestarts = metrics.Add(catalog.Metric{
		Name:      kube.WatchRestartsName,
		Help:      "Watches of the exporter that ended and were reopened, by reason: timeout (closed by the server), expired (410 Gone), error.",
		Type:      catalog.Counter,
		Collector: "client",
		Labels:    []string{"resource", "reason"},
	})
	relists = metrics.Add(catalog.Metric{
		Name:      kube.RelistsName,
		Help:      "Full lists (or watch-lists) of a resource after its first one.",
		Type:      catalog.Counter,
		Collector: "client",
		Labels:    []string{"resource"},
	})
	requestDuration = metrics.Add(catalog.Metric{
		Name:      kube.RequestDurationName,
		Help:      "Duration of the exporter's own API requests until the response headers, by verb, resource and HTTP status code.",
		Type:      catalog.Histogram,
		Collector: "client",
		Labels:    []string{"verb", "resource", "code"},
	})
)

// relabel re-emits what a client_golang collector gathers under the
// catalog's help text (the vectors carry a placeholder help).
func relabel(m *catalog.Metric, c prometheus.Collector, ch chan<- prometheus.Metric) {
	desc := m.Desc()
	in := make(chan prometheus.Metric)
	go func() { c.Collect(in); close(in) }()
	for pm := range in {
		ch <- wrapped{Metric: pm, desc: desc}
	}
}

type wrapped struct {
	prometheus.Metric
	desc *prometheus.Desc
}

func (w wrapped) Desc() *prometheus.Desc { return w.desc }

func newCounterVec(m *catalog.Metric) *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{Name: m.Name, Help: m.Help}, m.LabelNames())
}

func newGaugeVec(m *catalog.Metric) *prometheus.GaugeVec {
	return prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: m.Name, Help: m.Help}, m.LabelNames())
}

func newHistogramVec(m *catalog.Metric, buckets []float64) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: m.Name, Help: m.Help, Buckets: buckets}, m.LabelNames())
}

// watchErr returns the first unhealthy watch's error.
func watchErr(watches ...*kube.Watch) error {
	for _, w := range watches {
		if err := w.Err(); err != nil {
			return err
		}
	}
	return nil
}
