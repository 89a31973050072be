// Package selfmetrics holds an exporter's own instruments, written with the
// OpenTelemetry metrics API and served through the OpenTelemetry Prometheus
// exporter into the exporter's registry.
//
// Each Metrics has a private MeterProvider (never the global one) whose only
// reader is a Prometheus exporter registered in the registry given to New.
// Names reach Prometheus exactly as listed below (no unit or _total suffixes
// added, no otel_scope_* labels, no target_info), where <ns> is the namespace
// given to New:
//
//	<ns>_bpf_program_attached{program}                gauge: 1 attached, 0 not
//	<ns>_bpf_map_entries{map}                         gauge: entries in use
//	<ns>_bpf_map_max_entries{map}                     gauge: capacity
//	<ns>_events_lost_total{collector,reason}          counter
//	<ns>_event_processing_duration_seconds{collector} histogram
//	<ns>_series_overflow_total{metric}                counter
//	<ns>_bpf_program_run_seconds_total{program}       counter, while BPF stats are on
//	<ns>_bpf_program_runs_total{program}              counter, while BPF stats are on
//
// A series appears once its first value is recorded.
package selfmetrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	"golang.org/x/sys/unix"
)

const scopeName = "github.com/bpfleet/bpfleet/internal/selfmetrics"

// statsSysctl reads 1 while an administrator has turned BPF run-time
// statistics on for the whole system. It does not reflect BPF_ENABLE_STATS
// handles, which is why Metrics tracks its own (EnableStats).
const statsSysctl = "/proc/sys/kernel/bpf_stats_enabled"

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

	programAttached metric.Int64Gauge
	mapEntries      metric.Int64Gauge
	mapMaxEntries   metric.Int64Gauge
	processing      metric.Float64Histogram
	seriesOverflow  metric.Int64Counter

	mu       sync.Mutex
	lost     map[lostKey]*lostCount
	programs map[string]*ebpf.Program
	stats    io.Closer // BPF_ENABLE_STATS handle held by EnableStats
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
		lost:     make(map[lostKey]*lostCount),
		programs: make(map[string]*ebpf.Program),
	}
	if err := m.instruments(m.provider.Meter(scopeName)); err != nil {
		return nil, errors.Join(err, m.provider.Shutdown(context.Background()))
	}
	return m, nil
}

func (m *Metrics) instruments(meter metric.Meter) error {
	var errs [8]error
	m.programAttached, errs[0] = meter.Int64Gauge("bpf_program_attached",
		metric.WithDescription("Whether the BPF program is attached (1) or not (0)."))
	m.mapEntries, errs[1] = meter.Int64Gauge("bpf_map_entries",
		metric.WithDescription("Number of entries in the BPF map."))
	m.mapMaxEntries, errs[2] = meter.Int64Gauge("bpf_map_max_entries",
		metric.WithDescription("Maximum number of entries of the BPF map."))
	m.processing, errs[3] = meter.Float64Histogram("event_processing_duration_seconds",
		metric.WithDescription("Time spent handling one event in user space."),
		metric.WithUnit("s"),
		metric.WithExplicitBucketBoundaries(processingBuckets...))
	m.seriesOverflow, errs[4] = meter.Int64Counter("series_overflow_total",
		metric.WithDescription("Series of the metric that exceeded its series cap and were folded into its overflow series, summed over scrapes."))
	lost, err := meter.Int64ObservableCounter("events_lost_total",
		metric.WithDescription("Events that were lost before they could be counted, by reason."))
	errs[5] = err
	runTime, err := meter.Float64ObservableCounter("bpf_program_run_seconds_total",
		metric.WithDescription("Time the BPF program ran, while kernel BPF statistics are enabled."),
		metric.WithUnit("s"))
	errs[6] = err
	runs, err := meter.Int64ObservableCounter("bpf_program_runs_total",
		metric.WithDescription("Times the BPF program ran, while kernel BPF statistics are enabled."))
	errs[7] = err
	if err := errors.Join(errs[:]...); err != nil {
		return fmt.Errorf("creating instruments: %w", err)
	}
	if _, err := meter.RegisterCallback(m.observeLost(lost), lost); err != nil {
		return fmt.Errorf("registering callback: %w", err)
	}
	if _, err := meter.RegisterCallback(m.observePrograms(runTime, runs), runTime, runs); err != nil {
		return fmt.Errorf("registering callback: %w", err)
	}
	return nil
}

// ProgramAttached sets <ns>_bpf_program_attached{program}.
func (m *Metrics) ProgramAttached(program string, attached bool) {
	var v int64
	if attached {
		v = 1
	}
	m.programAttached.Record(context.Background(), v, labels("program", program))
}

// MapEntries sets <ns>_bpf_map_entries{map} and <ns>_bpf_map_max_entries{map}.
func (m *Metrics) MapEntries(mapName string, entries, maxEntries int) {
	attrs := labels("map", mapName)
	m.mapEntries.Record(context.Background(), int64(entries), attrs)
	m.mapMaxEntries.Record(context.Background(), int64(maxEntries), attrs)
}

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

// WatchProgram reports <ns>_bpf_program_run_seconds_total{program} and
// <ns>_bpf_program_runs_total{program} for p while kernel BPF stats are on,
// until the returned function is called.
//
// Stats are on while this Metrics holds them on (EnableStats) or while
// /proc/sys/kernel/bpf_stats_enabled reads 1; both are checked at every
// collection, from the program's info (Linux 5.8). p must stay open until
// stop is called. Watching a second program under the same name replaces the
// first; a stale stop function then does nothing.
func (m *Metrics) WatchProgram(program string, p *ebpf.Program) (stop func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.programs[program] = p
	return func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.programs[program] == p {
			delete(m.programs, program)
		}
	}
}

func (m *Metrics) observePrograms(runTime metric.Float64ObservableCounter, runs metric.Int64ObservableCounter) metric.Callback {
	return func(_ context.Context, o metric.Observer) error {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.stats == nil && !sysctlStatsEnabled() {
			return nil
		}
		for name, p := range m.programs {
			s, err := p.Stats()
			if err != nil {
				continue // closed or gone: nothing to report
			}
			attrs := labels("program", name)
			o.ObserveFloat64(runTime, s.Runtime.Seconds(), attrs)
			o.ObserveInt64(runs, int64(s.RunCount), attrs)
		}
		return nil
	}
}

func sysctlStatsEnabled() bool {
	b, err := os.ReadFile(statsSysctl)
	return err == nil && strings.TrimSpace(string(b)) == "1"
}

// EnableStats turns the kernel's BPF run-time statistics on (BPF_ENABLE_STATS,
// Linux 5.8, CAP_SYS_ADMIN) and holds them on until Shutdown, so that
// WatchProgram reports. Statistics cost a little on every BPF program run on
// the host while on. Calling it again while they are held does nothing.
func (m *Metrics) EnableStats() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stats != nil {
		return nil
	}
	h, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return fmt.Errorf("enabling BPF run-time statistics: %w", err)
	}
	m.stats = h
	return nil
}

// Shutdown flushes and releases the instruments.
//
// It also releases the statistics handle of EnableStats. The Prometheus
// bridge stays registered and reports nothing afterwards.
func (m *Metrics) Shutdown(ctx context.Context) error {
	err := m.provider.Shutdown(ctx)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stats != nil {
		err = errors.Join(err, m.stats.Close())
		m.stats = nil
	}
	return err
}

func labels(key, value string) metric.MeasurementOption {
	return metric.WithAttributeSet(attribute.NewSet(attribute.String(key, value)))
}
