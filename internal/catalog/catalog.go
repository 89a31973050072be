// Package catalog holds an exporter's metric table: every metric it serves,
// once, as a full literal (name, help, type, labels, collector), in the
// manner of kube-state-metrics' store tables. The table builds the
// descriptors, names the series caps (internal/series) and is what the
// README check (internal/exportertest) compares the documentation with, so
// that `grep <metric name>` finds the one place a metric is defined.
//
// An exporter's collector package declares its table and its metrics:
//
//	var metrics catalog.Catalog
//
//	var processExecs = metrics.Add(catalog.Metric{
//		Name:      "kernel_process_execs_total",
//		Help:      "Successful execve calls by tasks of the workload.",
//		Type:      catalog.Counter,
//		Collector: "process",
//		Key:       workload.LabelNames,
//	})
//
//	// Catalog returns every metric of the exporter's collectors.
//	func Catalog() *catalog.Catalog { return &metrics }
package catalog

import (
	"fmt"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Type is a metric's Prometheus type, as a README's type column spells it.
type Type string

// The metric types.
const (
	Counter   Type = "counter"
	Gauge     Type = "gauge"
	Histogram Type = "histogram"
)

// ValueType returns the client_golang value type of a counter or gauge.
func (t Type) ValueType() prometheus.ValueType {
	if t == Counter {
		return prometheus.CounterValue
	}
	return prometheus.GaugeValue
}

// MetricType returns t's type in the exposition.
func (t Type) MetricType() dto.MetricType {
	switch t {
	case Counter:
		return dto.MetricType_COUNTER
	case Histogram:
		return dto.MetricType_HISTOGRAM
	}
	return dto.MetricType_GAUGE
}

// Metric is one metric of an exporter.
type Metric struct {
	Name      string // full name: kernel_process_execs_total
	Help      string
	Type      Type
	Collector string // the collector that serves it
	// Key names the labels that identify the series' key (workload,
	// unit, prefix...), as documented; they come first. internal/series
	// caps and reaps by them. A key's labels can be coarser at run time
	// (--workload.granularity): DescFor names them.
	Key []string
	// Labels are the other labels, after Key's.
	Labels []string
}

// LabelNames returns Key's labels followed by Labels.
func (m *Metric) LabelNames() []string { return slices.Concat(m.Key, m.Labels) }

// Desc returns a new descriptor of the metric with its documented labels.
func (m *Metric) Desc() *prometheus.Desc {
	return prometheus.NewDesc(m.Name, m.Help, m.LabelNames(), nil)
}

// DescFor returns a new descriptor of the metric whose key labels are key
// instead of Key (a coarser workload granularity).
func (m *Metric) DescFor(key []string) *prometheus.Desc {
	return prometheus.NewDesc(m.Name, m.Help, slices.Concat(key, m.Labels), nil)
}

// Catalog is an exporter's metric table. Add metrics to it from package
// variable initialisers only; it is read-only afterwards.
type Catalog struct {
	metrics []*Metric
}

// Add appends m and returns the table's copy. A name added twice, an
// unknown type or a metric without collector or help is a programming error
// and panics at start-up.
func (c *Catalog) Add(m Metric) *Metric {
	switch {
	case m.Name == "" || m.Help == "" || m.Collector == "":
		panic(fmt.Sprintf("catalog: metric %q needs a name, help and collector", m.Name))
	case m.Type != Counter && m.Type != Gauge && m.Type != Histogram:
		panic(fmt.Sprintf("catalog: metric %q has type %q", m.Name, m.Type))
	case slices.ContainsFunc(c.metrics, func(o *Metric) bool { return o.Name == m.Name }):
		panic(fmt.Sprintf("catalog: metric %q added twice", m.Name))
	}
	p := &m
	c.metrics = append(c.metrics, p)
	return p
}

// Metrics returns the table in the order metrics were added.
func (c *Catalog) Metrics() []*Metric { return slices.Clone(c.metrics) }

// Lookup returns the metric called name.
func (c *Catalog) Lookup(name string) (*Metric, bool) {
	i := slices.IndexFunc(c.metrics, func(m *Metric) bool { return m.Name == name })
	if i < 0 {
		return nil, false
	}
	return c.metrics[i], true
}
