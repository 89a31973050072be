package selfmetrics_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/prometheus/common/expfmt"

	"github.com/bpfleet/bpfleet/internal/selfmetrics"
)

func newMetrics(t *testing.T) (*selfmetrics.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := selfmetrics.New("kernel_exporter", reg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Shutdown(t.Context()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return m, reg
}

func TestNewExposesNothingBeforeARecord(t *testing.T) {
	_, reg := newMetrics(t)
	if err := testutil.GatherAndCompare(reg, strings.NewReader("")); err != nil {
		t.Error(err)
	}
}

// Each case records through one method on fresh Metrics and expects the whole
// registry to hold exactly the given exposition: no other series, no
// otel_scope_* labels, no target_info.
func TestMethodsChangeExactlyTheirSeries(t *testing.T) {
	tests := []struct {
		name   string
		record func(m *selfmetrics.Metrics)
		want   string
	}{
		{
			name: "SetEventsLost keeps the last kernel total",
			record: func(m *selfmetrics.Metrics) {
				m.SetEventsLost("exec", "ringbuf_full", 3)
				m.SetEventsLost("exec", "ringbuf_full", 7)
			},
			want: `
# HELP kernel_exporter_events_lost_total Events that were lost before they could be counted, by reason.
# TYPE kernel_exporter_events_lost_total counter
kernel_exporter_events_lost_total{collector="exec",reason="ringbuf_full"} 7
`,
		},
		{
			name: "SetEventsLost continues across a kernel counter restart",
			record: func(m *selfmetrics.Metrics) {
				m.SetEventsLost("exec", "ringbuf_full", 7)
				m.SetEventsLost("exec", "ringbuf_full", 2)
			},
			want: `
# HELP kernel_exporter_events_lost_total Events that were lost before they could be counted, by reason.
# TYPE kernel_exporter_events_lost_total counter
kernel_exporter_events_lost_total{collector="exec",reason="ringbuf_full"} 9
`,
		},
		{
			name: "AddEventsLost adds, also on top of a kernel total",
			record: func(m *selfmetrics.Metrics) {
				m.AddEventsLost("exec", "parse_error", 1)
				m.AddEventsLost("exec", "parse_error", 2)
				m.SetEventsLost("exec", "map_full", 5)
				m.AddEventsLost("exec", "map_full", 1)
			},
			want: `
# HELP kernel_exporter_events_lost_total Events that were lost before they could be counted, by reason.
# TYPE kernel_exporter_events_lost_total counter
kernel_exporter_events_lost_total{collector="exec",reason="map_full"} 6
kernel_exporter_events_lost_total{collector="exec",reason="parse_error"} 3
`,
		},
		{
			name: "ObserveEventProcessing",
			record: func(m *selfmetrics.Metrics) {
				m.ObserveEventProcessing("oom", 3*time.Millisecond)
				m.ObserveEventProcessing("oom", 2*time.Second)
			},
			want: `
# HELP kernel_exporter_event_processing_duration_seconds Time spent handling one event in user space.
# TYPE kernel_exporter_event_processing_duration_seconds histogram
kernel_exporter_event_processing_duration_seconds_bucket{collector="oom",le="1e-06"} 0
kernel_exporter_event_processing_duration_seconds_bucket{collector="oom",le="5e-06"} 0
kernel_exporter_event_processing_duration_seconds_bucket{collector="oom",le="1e-05"} 0
kernel_exporter_event_processing_duration_seconds_bucket{collector="oom",le="5e-05"} 0
kernel_exporter_event_processing_duration_seconds_bucket{collector="oom",le="0.0001"} 0
kernel_exporter_event_processing_duration_seconds_bucket{collector="oom",le="0.0005"} 0
kernel_exporter_event_processing_duration_seconds_bucket{collector="oom",le="0.001"} 0
kernel_exporter_event_processing_duration_seconds_bucket{collector="oom",le="0.005"} 1
kernel_exporter_event_processing_duration_seconds_bucket{collector="oom",le="0.01"} 1
kernel_exporter_event_processing_duration_seconds_bucket{collector="oom",le="0.05"} 1
kernel_exporter_event_processing_duration_seconds_bucket{collector="oom",le="0.1"} 1
kernel_exporter_event_processing_duration_seconds_bucket{collector="oom",le="0.5"} 1
kernel_exporter_event_processing_duration_seconds_bucket{collector="oom",le="1"} 1
kernel_exporter_event_processing_duration_seconds_bucket{collector="oom",le="+Inf"} 2
kernel_exporter_event_processing_duration_seconds_sum{collector="oom"} 2.003
kernel_exporter_event_processing_duration_seconds_count{collector="oom"} 2
`,
		},
		{
			name: "AddSeriesOverflow",
			record: func(m *selfmetrics.Metrics) {
				m.AddSeriesOverflow("kernel_process_exits_total", 2)
				m.AddSeriesOverflow("kernel_process_exits_total", 3)
			},
			want: `
# HELP kernel_exporter_series_overflow_total Series of the metric that exceeded its series cap and were folded into its overflow series, summed over scrapes.
# TYPE kernel_exporter_series_overflow_total counter
kernel_exporter_series_overflow_total{metric="kernel_process_exits_total"} 5
`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, reg := newMetrics(t)
			tt.record(m)
			if err := testutil.GatherAndCompare(reg, strings.NewReader(tt.want)); err != nil {
				t.Error(err)
			}
		})
	}
}

func TestExpositionPassesPromtool(t *testing.T) {
	m, reg := newMetrics(t)
	m.SetEventsLost("exec", "ringbuf_full", 1)
	m.ObserveEventProcessing("oom", time.Millisecond)
	m.AddSeriesOverflow("kernel_process_exits_total", 1)
	promtoolCheck(t, reg)
}

func TestShutdownStopsReporting(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := selfmetrics.New("kernel_exporter", reg)
	if err != nil {
		t.Fatal(err)
	}
	m.AddSeriesOverflow("kernel_process_exits_total", 1)
	if err := m.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader("")); err != nil {
		t.Error(err)
	}
}

// promtoolCheck runs `promtool check metrics` on g's text exposition and
// fails on any finding.
func promtoolCheck(t *testing.T, g prometheus.Gatherer) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus)")
	}
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	for _, mf := range mfs {
		if _, err := expfmt.MetricFamilyToText(&text, mf); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &text
	if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
		t.Errorf("promtool check metrics: %v\n%s\non:\n%s", err, out, text.String())
	}
}
