// Package selfmetrics holds an exporter's own instruments, written with the
// OpenTelemetry metrics API and served through the OpenTelemetry Prometheus
// exporter into the exporter's registry.
//
// Each Metrics has a private MeterProvider (never the global one) whose only
// reader is a Prometheus exporter registered in the registry given to New.
// Names reach Prometheus exactly as listed below (no unit or _total suffixes
// added, no otel_scope_* labels, no target_info), where <ns> is the namespace
// given to New (the scaffold gives <exporter ns>_exporter, e.g.
// kernel_exporter):
//
//	<ns>_events_lost_total{collector,reason}          counter
//	<ns>_event_processing_duration_seconds{collector} histogram
//	<ns>_series_overflow_total{metric}                counter
//
// A series appears once its first value is recorded. Components add their
// own instruments through Meter (internal/bpfload's BPF program and map
// metrics), under the same namespace.
package selfmetrics

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

const scopeName = "github.com/bpfleet/bpfleet/internal/selfmetrics"

// processingBuckets are the upper bounds, in seconds, of
// <ns>_event_processing_duration_seconds: user-space handling of one event,
// from a microsecond to a second.
var processingBuckets = []float64{
	1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1,
}

// Metrics is the set of self-instruments of one exporter. Safe for
// concurrent use.
type Metrics struct {
	provider *sdkmetric.MeterProvider
	meter    metric.Meter

	processing     metric.Float64Histogram
	seriesOverflow metric.Int64Counter

	mu   sync.Mutex
	lost map[lostKey]*lostCount
}

type lostKey struct{ collector, reason string }

// lostCount is one <ns>_events_lost_total series: kernel totals set with
// SetEventsLost (base carries totals from before a kernel counter restarted)
// plus the sum of AddEventsLost.
type lostCount struct {
	base, kernel, added uint64
}

func (c *lostCount) value() int64 { return int64(c.base + c.kernel + c.added) }

// New creates the instruments under namespace (e.g. "kernel") and registers
// their Prometheus bridge in reg.
func New(namespace string, reg prometheus.Registerer) (*Metrics, error) {
	exporter, err := otelprom.New(
		otelprom.WithRegisterer(reg),
		otelprom.WithNamespace(namespace),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithoutSuffixes),
		otelprom.WithoutScopeInfo(),
		otelprom.WithoutTargetInfo(),
	)
	if err != nil {
		return nil, fmt.Errorf("creating Prometheus exporter: %w", err)
	}
	m := &Metrics{
		provider: sdkmetric.NewMeterProvider(
			sdkmetric.WithReader(exporter),
			sdkmetric.WithResource(resource.Empty()),
		),
		lost: make(map[lostKey]*lostCount),
	}
	m.meter = m.provider.Meter(scopeName)
	if err := m.instruments(m.meter); err != nil {
		return nil, errors.Join(err, m.provider.Shutdown(context.Background()))
	}
	return m, nil
}

func (m *Metrics) instruments(meter metric.Meter) error {
	var errs [3]error
	m.processing, errs[0] = meter.Float64Histogram("event_processing_duration_seconds",
		metric.WithDescription("Time spent handling one event in user space."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(processingBuckets...))
	m.seriesOverflow, errs[1] = meter.Int64Counter("series_overflow_total",
		metric.WithDescription("Series of the metric that exceeded its series cap and were folded into its overflow series, summed over scrapes."))
	lost, err := meter.Int64ObservableCounter("events_lost_total",
		metric.WithDescription("Events that were lost before they could be counted, by reason."))
	errs[2] = err
	if err := errors.Join(errs[:]...); err != nil {
		return fmt.Errorf("creating instruments: %w", err)
	}
	if _, err := meter.RegisterCallback(m.observeLost(lost), lost); err != nil {
		return fmt.Errorf("registering callback: %w", err)
	}
	return nil
}

// Meter returns the meter of these instruments, for components that add
// their own under the same namespace. It stays valid until Shutdown.
func (m *Metrics) Meter() metric.Meter { return m.meter }

// SetEventsLost sets the cumulative <ns>_events_lost_total{collector,reason}
// to total, as read from a kernel counter (never decreases).
//
// A total below the previous one means the kernel counter started over (its
// map was recreated); the series then keeps counting from the previous total,
// so it never decreases either. Amounts given to AddEventsLost for the same
// labels are added on top.
func (m *Metrics) SetEventsLost(collector, reason string, total uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.lostCount(collector, reason)
	if total < c.kernel {
		c.base += c.kernel
	}
	c.kernel = total
}

// AddEventsLost adds n to <ns>_events_lost_total{collector,reason}.
func (m *Metrics) AddEventsLost(collector, reason string, n uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lostCount(collector, reason).added += n
}

// lostCount returns the series of collector and reason, creating it. m.mu
// must be held.
func (m *Metrics) lostCount(collector, reason string) *lostCount {
	k := lostKey{collector, reason}
	c, ok := m.lost[k]
	if !ok {
		c = &lostCount{}
		m.lost[k] = c
	}
	return c
}

func (m *Metrics) observeLost(lost metric.Int64ObservableCounter) metric.Callback {
	return func(_ context.Context, o metric.Observer) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		for k, c := range m.lost {
			o.ObserveInt64(lost, c.value(), metric.WithAttributes(
				attribute.String("collector", k.collector),
				attribute.String("reason", k.reason)))
		}
		return nil
	}
}

// ObserveEventProcessing records one user-space event handling time in
// <ns>_event_processing_duration_seconds{collector}.
func (m *Metrics) ObserveEventProcessing(collector string, d time.Duration) {
	m.processing.Record(context.Background(), d.Seconds(), labels("collector", collector))
}

// AddSeriesOverflow adds n to <ns>_series_overflow_total{metric}.
func (m *Metrics) AddSeriesOverflow(metric string, n int) {
	m.seriesOverflow.Add(context.Background(), int64(n), labels("metric", metric))
}

// Shutdown flushes and releases the instruments. The Prometheus bridge
// stays registered and reports nothing afterwards.
func (m *Metrics) Shutdown(ctx context.Context) error {
	return m.provider.Shutdown(ctx)
}

// Attr returns the measurement option of one label, for callers of Meter.
func Attr(key, value string) metric.MeasurementOption { return labels(key, value) }

func labels(key, value string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String(key, value)))
}
