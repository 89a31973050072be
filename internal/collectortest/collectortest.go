// Package collectortest runs one exporter collector against the real kernel
// and reads what it serves: an Env with self-metrics, a workload resolver
// and its cgroup watcher, scrape snapshots and the deltas between them.
package collectortest

import (
	"context"
	"io"
	"log/slog"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
	"github.com/bpfleet/bpfleet/internal/testenv"
	"github.com/bpfleet/bpfleet/internal/workload"
)

// Harness is one constructed collector and the Env it was built with.
type Harness struct {
	tb       testing.TB
	C        exporter.Collector
	Env      exporter.Env
	Registry *prometheus.Registry // the self-metrics
}

// Option changes the Env that New builds.
type Option func(*workload.Options)

// WithCRIEndpoint has the workload resolver look pods up at a CRI socket
// (testenv.Containerd's Endpoint); by default it makes no CRI lookups.
func WithCRIEndpoint(endpoint string) Option {
	return func(o *workload.Options) { o.CRIEndpoint = endpoint }
}

// New builds the collector with newCollector under namespace, as the
// exporter would, and closes it when the test ends. It needs root.
func New(tb testing.TB, namespace string, newCollector exporter.New, opts ...Option) *Harness {
	tb.Helper()
	testenv.RequireRoot(tb)
	reg := prometheus.NewRegistry()
	self, err := selfmetrics.New(namespace, reg)
	if err != nil {
		tb.Fatal(err)
	}
	var ro workload.Options
	for _, o := range opts {
		o(&ro)
	}
	resolver, err := workload.NewResolver(ro)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { resolver.Close() })
	watchCgroups(tb, namespace, resolver, self, reg)
	env := exporter.Env{
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Namespace: namespace,
		Self:      self,
		Workload:  resolver,
	}
	c, err := newCollector(context.Background(), env)
	if err != nil {
		tb.Fatalf("constructing collector: %v", err)
	}
	tb.Cleanup(func() {
		if closer, ok := c.(io.Closer); ok {
			if err := closer.Close(); err != nil {
				tb.Errorf("closing collector: %v", err)
			}
		}
	})
	return &Harness{tb: tb, C: c, Env: env, Registry: reg}
}

// watchCgroups runs the resolver's cgroup watcher, as the exporter does,
// until the test ends; it returns once the watcher's program is attached.
func watchCgroups(tb testing.TB, namespace string, r *workload.Resolver, self *selfmetrics.Metrics, reg *prometheus.Registry) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Watch(ctx, self) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("watching cgroups: %v", err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if n, _ := testutil.GatherAndCount(reg, namespace+"_bpf_program_attached"); n > 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatal("cgroup watcher not attached after 10s")
		}
	}
}

// Snapshot is one scrape: series name{label="value",...} → sample.
type Snapshot map[string]*dto.Metric

// Scrape runs one Update and returns what it served.
func (h *Harness) Scrape() Snapshot {
	h.tb.Helper()
	ch := make(chan prometheus.Metric, 1024)
	errc := make(chan error, 1)
	go func() {
		errc <- h.C.Update(context.Background(), ch)
		close(ch)
	}()
	s := make(Snapshot)
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			h.tb.Fatal(err)
		}
		s[seriesName(m.Desc(), &pb)] = &pb
	}
	if err := <-errc; err != nil {
		h.tb.Fatalf("Update: %v", err)
	}
	return s
}

func seriesName(d *prometheus.Desc, m *dto.Metric) string {
	name := d.String()
	name = name[strings.Index(name, `fqName: "`)+9:]
	name = name[:strings.Index(name, `"`)]
	return key(name, m.GetLabel())
}

func key(name string, labels []*dto.LabelPair) string {
	var parts []string
	for _, l := range labels {
		parts = append(parts, l.GetName()+"="+strconv.Quote(l.GetValue()))
	}
	sort.Strings(parts)
	return name + "{" + strings.Join(parts, ",") + "}"
}

// SeriesOf names a series by metric and label pairs "k", "v", ....
func SeriesOf(name string, kv ...string) string {
	var labels []*dto.LabelPair
	for i := 0; i+1 < len(kv); i += 2 {
		labels = append(labels, &dto.LabelPair{Name: &kv[i], Value: &kv[i+1]})
	}
	return key(name, labels)
}

// WorkloadLabels are the label pairs of a plain (non-Kubernetes) cgroup,
// followed by extra pairs.
func WorkloadLabels(cg *testenv.Cgroup, extra ...string) []string {
	return append([]string{"cgroup", cg.Path, "namespace", "", "pod", "", "container", ""}, extra...)
}

// Counter returns a counter's value, 0 when the series is absent.
func (s Snapshot) Counter(name string, kv ...string) float64 {
	m, ok := s[SeriesOf(name, kv...)]
	if !ok {
		return 0
	}
	return m.GetCounter().GetValue()
}

// HistCount returns a histogram's sample count, 0 when absent.
func (s Snapshot) HistCount(name string, kv ...string) uint64 {
	h := s.Histogram(name, kv...)
	return h.GetSampleCount()
}

// Histogram returns a histogram series, nil when absent.
func (s Snapshot) Histogram(name string, kv ...string) *dto.Histogram {
	m, ok := s[SeriesOf(name, kv...)]
	if !ok {
		return nil
	}
	return m.GetHistogram()
}

// ClassicCount returns the cumulative count of h's classic bucket le.
func ClassicCount(h *dto.Histogram, le float64) uint64 {
	for _, b := range h.GetBucket() {
		if math.Abs(b.GetUpperBound()-le) < le*1e-9 {
			return b.GetCumulativeCount()
		}
	}
	return 0
}

// Delta is after minus before for one counter series.
func Delta(before, after Snapshot, name string, kv ...string) float64 {
	return after.Counter(name, kv...) - before.Counter(name, kv...)
}
