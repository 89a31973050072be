package selfmetrics_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/bpfleet/bpfleet/internal/selfmetrics"
)

func newMetrics(t *testing.T) (*selfmetrics.Metrics, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := selfmetrics.New("kernel", reg)
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
			name: "ProgramAttached",
			record: func(m *selfmetrics.Metrics) {
				m.ProgramAttached("handle_exec", true)
				m.ProgramAttached("handle_exit", true)
				m.ProgramAttached("handle_exit", false)
			},
			want: `
# HELP kernel_bpf_program_attached Whether the BPF program is attached (1) or not (0).
# TYPE kernel_bpf_program_attached gauge
kernel_bpf_program_attached{program="handle_exec"} 1
kernel_bpf_program_attached{program="handle_exit"} 0
`,
		},
		{
			name: "MapEntries",
			record: func(m *selfmetrics.Metrics) {
				m.MapEntries("exits", 10, 1024)
				m.MapEntries("exits", 12, 1024)
			},
			want: `
# HELP kernel_bpf_map_entries Number of entries in the BPF map.
# TYPE kernel_bpf_map_entries gauge
kernel_bpf_map_entries{map="exits"} 12
# HELP kernel_bpf_map_max_entries Maximum number of entries of the BPF map.
# TYPE kernel_bpf_map_max_entries gauge
kernel_bpf_map_max_entries{map="exits"} 1024
`,
		},
		{
			name: "SetEventsLost keeps the last kernel total",
			record: func(m *selfmetrics.Metrics) {
				m.SetEventsLost("exec", "ringbuf_full", 3)
				m.SetEventsLost("exec", "ringbuf_full", 7)
			},
			want: `
# HELP kernel_events_lost_total Events that were lost before they could be counted, by reason.
# TYPE kernel_events_lost_total counter
kernel_events_lost_total{collector="exec",reason="ringbuf_full"} 7
`,
		},
		{
			name: "SetEventsLost continues across a kernel counter restart",
			record: func(m *selfmetrics.Metrics) {
				m.SetEventsLost("exec", "ringbuf_full", 7)
				m.SetEventsLost("exec", "ringbuf_full", 2)
			},
			want: `
# HELP kernel_events_lost_total Events that were lost before they could be counted, by reason.
# TYPE kernel_events_lost_total counter
kernel_events_lost_total{collector="exec",reason="ringbuf_full"} 9
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
# HELP kernel_events_lost_total Events that were lost before they could be counted, by reason.
# TYPE kernel_events_lost_total counter
kernel_events_lost_total{collector="exec",reason="map_full"} 6
kernel_events_lost_total{collector="exec",reason="parse_error"} 3
`,
		},
		{
			name: "ObserveEventProcessing",
			record: func(m *selfmetrics.Metrics) {
				m.ObserveEventProcessing("oom", 3*time.Millisecond)
				m.ObserveEventProcessing("oom", 2*time.Second)
			},
			want: `
# HELP kernel_event_processing_duration_seconds Time spent handling one event in user space.
# TYPE kernel_event_processing_duration_seconds histogram
kernel_event_processing_duration_seconds_bucket{collector="oom",le="1e-06"} 0
kernel_event_processing_duration_seconds_bucket{collector="oom",le="5e-06"} 0
kernel_event_processing_duration_seconds_bucket{collector="oom",le="1e-05"} 0
kernel_event_processing_duration_seconds_bucket{collector="oom",le="5e-05"} 0
kernel_event_processing_duration_seconds_bucket{collector="oom",le="0.0001"} 0
kernel_event_processing_duration_seconds_bucket{collector="oom",le="0.0005"} 0
kernel_event_processing_duration_seconds_bucket{collector="oom",le="0.001"} 0
kernel_event_processing_duration_seconds_bucket{collector="oom",le="0.005"} 1
kernel_event_processing_duration_seconds_bucket{collector="oom",le="0.01"} 1
kernel_event_processing_duration_seconds_bucket{collector="oom",le="0.05"} 1
kernel_event_processing_duration_seconds_bucket{collector="oom",le="0.1"} 1
kernel_event_processing_duration_seconds_bucket{collector="oom",le="0.5"} 1
kernel_event_processing_duration_seconds_bucket{collector="oom",le="1"} 1
kernel_event_processing_duration_seconds_bucket{collector="oom",le="+Inf"} 2
kernel_event_processing_duration_seconds_sum{collector="oom"} 2.003
kernel_event_processing_duration_seconds_count{collector="oom"} 2
`,
		},
		{
			name: "AddSeriesOverflow",
			record: func(m *selfmetrics.Metrics) {
				m.AddSeriesOverflow("kernel_process_exits_total", 2)
				m.AddSeriesOverflow("kernel_process_exits_total", 3)
			},
			want: `
# HELP kernel_series_overflow_total Series of the metric that exceeded its series cap and were folded into its overflow series, summed over scrapes.
# TYPE kernel_series_overflow_total counter
kernel_series_overflow_total{metric="kernel_process_exits_total"} 5
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
	m.ProgramAttached("handle_exec", true)
	m.MapEntries("exits", 1, 2)
	m.SetEventsLost("exec", "ringbuf_full", 1)
	m.ObserveEventProcessing("oom", time.Millisecond)
	m.AddSeriesOverflow("kernel_process_exits_total", 1)
	promtoolCheck(t, reg)
}

func TestShutdownStopsReporting(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := selfmetrics.New("kernel", reg)
	if err != nil {
		t.Fatal(err)
	}
	m.ProgramAttached("handle_exec", true)
	if err := m.Shutdown(t.Context()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := testutil.GatherAndCompare(reg, strings.NewReader("")); err != nil {
		t.Error(err)
	}
}

// TestWatchProgramCountsRuns loads a real socket filter, runs it N times with
// statistics on, and expects exactly N runs.
func TestWatchProgramCountsRuns(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loading BPF programs and enabling BPF statistics need root")
	}
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Type:         ebpf.SocketFilter,
		License:      "GPL",
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()},
	})
	if err != nil {
		t.Fatalf("loading socket filter: %v", err)
	}
	defer prog.Close()

	m, reg := newMetrics(t)
	stop := m.WatchProgram("noop", prog)
	if !sysctlStatsOn(t) {
		if got := programSeries(t, reg); got != 0 {
			t.Errorf("with statistics off: %d program series, want 0", got)
		}
	}
	if err := m.EnableStats(); err != nil {
		t.Fatalf("EnableStats: %v", err)
	}
	const n = 5
	for range n {
		if _, err := prog.Run(&ebpf.RunOptions{Data: make([]byte, 14)}); err != nil {
			t.Fatalf("running program: %v", err)
		}
	}
	if got := gaugeOrCounter(t, reg, "kernel_bpf_program_runs_total", "noop"); got != n {
		t.Errorf("kernel_bpf_program_runs_total{program=noop} = %v, want %d", got, n)
	}
	if got := gaugeOrCounter(t, reg, "kernel_bpf_program_run_seconds_total", "noop"); got <= 0 || got > 1 {
		t.Errorf("kernel_bpf_program_run_seconds_total{program=noop} = %v, want in (0, 1]", got)
	}
	stop()
	if got := programSeries(t, reg); got != 0 {
		t.Errorf("after stop: %d program series, want 0", got)
	}
}

func sysctlStatsOn(t *testing.T) bool {
	b, err := os.ReadFile("/proc/sys/kernel/bpf_stats_enabled")
	if err != nil {
		t.Fatalf("reading bpf_stats_enabled: %v", err)
	}
	return strings.TrimSpace(string(b)) == "1"
}

// programSeries counts the series of the two run-statistics metrics.
func programSeries(t *testing.T, g prometheus.Gatherer) int {
	t.Helper()
	n, err := testutil.GatherAndCount(g, "kernel_bpf_program_runs_total", "kernel_bpf_program_run_seconds_total")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// gaugeOrCounter returns the value of name{program} or fails the test.
func gaugeOrCounter(t *testing.T, g prometheus.Gatherer, name, program string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if labelValue(m, "program") == program {
				return m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	t.Fatalf("no series %s{program=%q}", name, program)
	return 0
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
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
