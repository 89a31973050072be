// Package collectortest runs one exporter collector against the real kernel
// and reads what it serves: an Env with self-metrics and the eBPF
// exporters' components (a BPF loader, a CRI client, a workload resolver
// and its cgroup watcher), scrape snapshots and the deltas between them.
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

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/cri"
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
type Option func(*options)

type options struct {
	criEndpoint string
	granularity workload.Granularity
	kubeletRoot string
	maxSeries   int
	maxEntries  map[string]uint32
}

// WithCRIEndpoint gives the collector a CRI client of a socket
// (testenv.Containerd's Endpoint), which the workload resolver uses too; by
// default the client is disabled.
func WithCRIEndpoint(endpoint string) Option {
	return func(o *options) { o.criEndpoint = endpoint }
}

// WithContainerd gives the collector a CRI client of a test containerd and
// has the workload resolver find pods under its cgroup parent, as the
// kubelet's cgroup root.
func WithContainerd(ctd *testenv.Containerd) Option {
	return func(o *options) { o.criEndpoint, o.kubeletRoot = ctd.Endpoint, ctd.CgroupParent }
}

// WithGranularity sets the workload resolver's granularity.
func WithGranularity(g workload.Granularity) Option {
	return func(o *options) { o.granularity = g }
}

// WithMaxSeries sets Env.MaxSeries.
func WithMaxSeries(n int) Option {
	return func(o *options) { o.maxSeries = n }
}

// WithMapMaxEntries sizes the BPF map called name to n rows
// (Loader.SetMaxEntries), so that a test fills it with a few workloads.
func WithMapMaxEntries(name string, n uint32) Option {
	return func(o *options) {
		if o.maxEntries == nil {
			o.maxEntries = map[string]uint32{}
		}
		o.maxEntries[name] = n
	}
}

// New builds the collector called name with newCollector under namespace,
// as the exporter would, and closes it when the test ends; a collector that
// is a Runner runs until then. It needs root.
func New(tb testing.TB, namespace, name string, newCollector exporter.New, opts ...Option) *Harness {
	tb.Helper()
	testenv.RequireRoot(tb)
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	reg := prometheus.NewRegistry()
	self, err := selfmetrics.New(namespace+"_exporter", reg)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { self.Shutdown(context.Background()) })
	loader, err := bpfload.NewLoader(self)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { loader.Close() })
	for name, n := range o.maxEntries {
		loader.SetMaxEntries(name, n)
	}
	client, err := cri.New(o.criEndpoint, 0, nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { client.Close() })
	ro := workload.Options{Granularity: o.granularity, KubeletRoot: o.kubeletRoot}
	if client.Enabled() {
		ro.Pods = client
	}
	resolver, err := workload.NewResolver(ro)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { resolver.Close() })
	watchCgroups(tb, namespace, resolver, loader, self, reg)
	env := exporter.Env{
		Name:      name,
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Namespace: namespace,
		Self:      self,
		MaxSeries: o.maxSeries,
	}.WithComponents(map[string]any{
		bpfload.ComponentName:  loader,
		cri.ComponentName:      client,
		workload.ComponentName: resolver,
	})
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
	if r, ok := c.(exporter.Runner); ok {
		run(tb, r)
	}
	return &Harness{tb: tb, C: c, Env: env, Registry: reg}
}

// run runs r until the test ends (before the collector is closed); an
// error of Run fails the test.
func run(tb testing.TB, r exporter.Runner) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("collector's background work: %v", err)
		}
	})
}

// watchCgroups runs the resolver's cgroup watcher, as the exporter does,
// until the test ends; it returns once the watcher's program is attached.
func watchCgroups(tb testing.TB, namespace string, r *workload.Resolver, loader *bpfload.Loader, self *selfmetrics.Metrics, reg *prometheus.Registry) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Watch(ctx, loader, self) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("watching cgroups: %v", err)
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if n, _ := testutil.GatherAndCount(reg, namespace+"_exporter_bpf_program_attached"); n > 0 {
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
