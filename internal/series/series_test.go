package series_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/catalog"
	"github.com/bpfleet/bpfleet/internal/gather"
	"github.com/bpfleet/bpfleet/internal/histogram"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
	"github.com/bpfleet/bpfleet/internal/series"
)

// units labels systemd-style unit names: a unit is alive while listed.
type units map[string]bool

func (units) LabelNames() []string { return []string{"name"} }

func (u units) Labels(_ context.Context, key string) ([]string, bool) {
	return []string{key}, u[key]
}

// pods labels container ids with their pod, so that two containers of one
// pod share a label set (as --workload.granularity=pod gives).
type pods map[uint64][2]string // id → namespace, pod

func (pods) LabelNames() []string { return []string{"namespace", "pod"} }

func (p pods) Labels(_ context.Context, key uint64) ([]string, bool) {
	v, ok := p[key]
	return v[:], ok
}

var (
	table    catalog.Catalog
	restarts = table.Add(catalog.Metric{Name: "test_restarts_total", Help: "Restarts.", Type: catalog.Counter,
		Collector: "test", Key: []string{"name"}})
	latency = table.Add(catalog.Metric{Name: "test_latency_seconds", Help: "Latency.", Type: catalog.Histogram,
		Collector: "test", Key: []string{"name"}, Labels: []string{"family"}})
	memory = table.Add(catalog.Metric{Name: "test_memory_bytes", Help: "Memory.", Type: catalog.Gauge,
		Collector: "test", Key: []string{"name"}})
)

var histOpts = histogram.Opts{Schema: histogram.KernelSchema, Scale: 1e-9, Classic: histogram.ClassicPowersOfTwo(-1, 1)}

type fixture[K comparable] struct {
	attr *series.Attributor[K]
	self *prometheus.Registry
	now  time.Time
}

func newFixture[K comparable](t *testing.T, l series.Labeler[K], maxSeries int) *fixture[K] {
	t.Helper()
	f := &fixture[K]{self: prometheus.NewRegistry(), now: time.Unix(1000, 0)}
	self, err := selfmetrics.New("test_exporter", f.self)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { self.Shutdown(context.Background()) })
	f.attr = series.New(series.Options[K]{Labeler: l, Self: self, MaxSeries: maxSeries, Grace: time.Minute,
		Now: func() time.Time { return f.now }})
	return f
}

// scrapeCollector serves one Scrape, for testutil.
type scrapeCollector[K comparable] struct {
	t *testing.T
	s *series.Scrape[K]
}

func (c scrapeCollector[K]) Describe(chan<- *prometheus.Desc) {}

func (c scrapeCollector[K]) Collect(ch chan<- prometheus.Metric) {
	if err := c.s.Emit(ch, histOpts); err != nil {
		c.t.Error(err)
	}
}

func check[K comparable](t *testing.T, s *series.Scrape[K], want string, names ...string) {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(scrapeCollector[K]{t, s})
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
}

func TestRowsOfOneKeyMerge(t *testing.T) {
	f := newFixture[string](t, units{"a.service": true}, 0)
	s := f.attr.Begin(t.Context())
	s.Counter(restarts, "a.service", 3)
	s.Counter(restarts, "a.service", 4)
	s.Histogram(latency, "a.service", 0, 2, 2e9, "ipv4")  // 2 × 1s
	s.Histogram(latency, "a.service", -8, 1, 5e8, "ipv4") // 1 × 0.5s
	s.Gauge(memory, "a.service", 100)
	s.Gauge(memory, "a.service", 28)
	check(t, s, `
# HELP test_restarts_total Restarts.
# TYPE test_restarts_total counter
test_restarts_total{name="a.service"} 7
# HELP test_memory_bytes Memory.
# TYPE test_memory_bytes gauge
test_memory_bytes{name="a.service"} 128
# HELP test_latency_seconds Latency.
# TYPE test_latency_seconds histogram
test_latency_seconds_bucket{family="ipv4",name="a.service",le="0.5"} 1
test_latency_seconds_bucket{family="ipv4",name="a.service",le="1"} 3
test_latency_seconds_bucket{family="ipv4",name="a.service",le="2"} 3
test_latency_seconds_bucket{family="ipv4",name="a.service",le="+Inf"} 3
test_latency_seconds_sum{family="ipv4",name="a.service"} 2.5
test_latency_seconds_count{family="ipv4",name="a.service"} 3
`)
}

// Keys that resolve to one label set (two containers of a pod at pod
// granularity) make one series, and take one cap slot.
func TestKeysOfOneLabelSetMerge(t *testing.T) {
	p := pods{1: {"shop", "web-0"}, 2: {"shop", "web-0"}, 3: {"shop", "db-0"}}
	podRestarts := (&catalog.Catalog{}).Add(catalog.Metric{Name: "test_pod_restarts_total", Help: "Restarts.",
		Type: catalog.Counter, Collector: "test", Key: []string{"namespace", "pod"}})
	f := newFixture[uint64](t, p, 2)
	s := f.attr.Begin(t.Context())
	s.Counter(podRestarts, 1, 1)
	s.Counter(podRestarts, 2, 2)
	s.Counter(podRestarts, 3, 5)
	check(t, s, `
# HELP test_pod_restarts_total Restarts.
# TYPE test_pod_restarts_total counter
test_pod_restarts_total{namespace="shop",pod="web-0"} 3
test_pod_restarts_total{namespace="shop",pod="db-0"} 5
`)
	checkOverflow(t, f.self, "")
}

func TestSeriesBeyondTheCapFoldIntoOverflow(t *testing.T) {
	u := units{"a": true, "b": true, "c": true, "d": true}
	f := newFixture[string](t, u, 2)
	for scrape := 1; scrape <= 2; scrape++ {
		s := f.attr.Begin(t.Context())
		for i, name := range []string{"a", "b", "c", "d"} {
			// Two rows per key: the cap counts series, not rows.
			s.Counter(restarts, name, uint64(10*(i+1)-1))
			s.Counter(restarts, name, 1)
		}
		// The first two admitted keep their series; the others add up.
		check(t, s, `
# HELP test_restarts_total Restarts.
# TYPE test_restarts_total counter
test_restarts_total{name="a"} 10
test_restarts_total{name="b"} 20
test_restarts_total{name="__overflow__"} 70
`)
		checkOverflow(t, f.self, `
# HELP test_exporter_series_overflow_total Series of the metric that exceeded its series cap and were folded into its overflow series, summed over scrapes.
# TYPE test_exporter_series_overflow_total counter
test_exporter_series_overflow_total{metric="test_restarts_total"} `+map[int]string{1: "2", 2: "4"}[scrape]+"\n")
	}
}

// Rows the kernel folded (a key that IsOverflow names) add to the overflow
// series directly, with the rows capped away, never taking a cap slot or
// being looked up.
func TestFoldedRowsJoinTheOverflowSeries(t *testing.T) {
	const folded = ^uint64(0)
	p := pods{1: {"shop", "web-0"}, 2: {"shop", "db-0"}}
	podRestarts := (&catalog.Catalog{}).Add(catalog.Metric{Name: "test_pod_restarts_total", Help: "Restarts.",
		Type: catalog.Counter, Collector: "test", Key: []string{"namespace", "pod"}})
	f := newFixture[uint64](t, p, 1)
	f.attr = series.New(series.Options[uint64]{Labeler: p, MaxSeries: 1, IsOverflow: func(k uint64) bool { return k == folded }})
	s := f.attr.Begin(t.Context())
	s.Counter(podRestarts, folded, 7)
	s.Counter(podRestarts, 1, 1)
	s.Counter(podRestarts, 2, 2) // beyond the cap of 1
	check(t, s, `
# HELP test_pod_restarts_total Restarts.
# TYPE test_pod_restarts_total counter
test_pod_restarts_total{namespace="__overflow__",pod=""} 9
test_pod_restarts_total{namespace="shop",pod="web-0"} 1
`)
	if gone := f.attr.Expired(); len(gone) != 0 {
		t.Errorf("Expired = %v, want none", gone)
	}
}

func checkOverflow(t *testing.T, reg *prometheus.Registry, want string) {
	t.Helper()
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "test_exporter_series_overflow_total"); err != nil {
		t.Error(err)
	}
}

func TestGoneKeysExpireAfterGrace(t *testing.T) {
	u := units{"a": true, "b": true, "c": true}
	f := newFixture[string](t, u, 2)
	s := f.attr.Begin(t.Context())
	s.Counter(restarts, "a", 1) // resolved while alive
	s.Counter(restarts, "b", 1)
	u["a"] = false

	f.now = f.now.Add(time.Second)
	s = f.attr.Begin(t.Context())
	s.Counter(restarts, "a", 1)
	s.Counter(restarts, "c", 1) // over the cap while a holds its slot
	check(t, s, `
# HELP test_restarts_total Restarts.
# TYPE test_restarts_total counter
test_restarts_total{name="a"} 1
test_restarts_total{name="__overflow__"} 1
`)
	if keys := f.attr.Expired(); len(keys) != 0 {
		t.Errorf("expired %v within the grace period", keys)
	}
	f.now = f.now.Add(time.Minute)
	if keys := f.attr.Expired(); !slices.Equal(keys, []string{"a"}) {
		t.Errorf("expired %v after the grace period, want [a]", keys)
	}
	if keys := f.attr.Expired(); len(keys) != 0 {
		t.Errorf("expired %v again", keys)
	}
	// a's slot is free again: c takes it.
	s = f.attr.Begin(t.Context())
	s.Counter(restarts, "c", 1)
	check(t, s, `
# HELP test_restarts_total Restarts.
# TYPE test_restarts_total counter
test_restarts_total{name="c"} 1
`)
}

// A key seen alive again before its grace ends is not reaped.
func TestKeyBackBeforeGraceIsKept(t *testing.T) {
	u := units{"a": false}
	f := newFixture[string](t, u, 0)
	f.attr.Begin(t.Context()).Counter(restarts, "a", 1)
	u["a"] = true
	f.now = f.now.Add(30 * time.Second)
	f.attr.Begin(t.Context()).Counter(restarts, "a", 1)
	f.now = f.now.Add(time.Hour)
	if keys := f.attr.Expired(); len(keys) != 0 {
		t.Errorf("expired %v, want none: a is alive", keys)
	}
}

// waiting labels a key only once told its labels: until then it is not
// ready (nil values), as a container whose pod the runtime has not named.
type waiting map[string]string

func (waiting) LabelNames() []string { return []string{"name"} }

func (w waiting) Labels(_ context.Context, key string) ([]string, bool) {
	v, ok := w[key]
	if !ok {
		return nil, true
	}
	return []string{v}, true
}

// A key that is not ready is left out, not served with other labels, and
// takes no cap slot; its rows are served once it is ready.
func TestKeyNotReadyIsHeldBack(t *testing.T) {
	w := waiting{"a": "a"}
	f := newFixture[string](t, w, 1)
	s := f.attr.Begin(t.Context())
	s.Counter(restarts, "new", 5)
	s.Counter(restarts, "a", 1)
	check(t, s, `
# HELP test_restarts_total Restarts.
# TYPE test_restarts_total counter
test_restarts_total{name="a"} 1
`)
	w["new"] = "b"
	s = f.attr.Begin(t.Context())
	s.Counter(restarts, "new", 7)
	check(t, s, `
# HELP test_restarts_total Restarts.
# TYPE test_restarts_total counter
test_restarts_total{name="__overflow__"} 7
`)
	checkOverflow(t, f.self, `
# HELP test_exporter_series_overflow_total Series of the metric that exceeded its series cap and were folded into its overflow series, summed over scrapes.
# TYPE test_exporter_series_overflow_total counter
test_exporter_series_overflow_total{metric="test_restarts_total"} 1
`)
}

// Series skip the registry's checks in the exporter (internal/gather): what
// gather serves must be what the pedantic registry accepts and serves, the
// label pairs in name order whatever the order of the key labels and the
// metric's own, and a label value that is not UTF-8 made valid.
func TestGatheredSeriesPassTheRegistryChecks(t *testing.T) {
	rows := pods{1: {"ns-a", "pod-a"}, 2: {"ns-b", "pod\xffb"}, 3: {"ns-a", "pod-a"}}
	f := newFixture(t, rows, 0)
	labelled := table.Add(catalog.Metric{Name: "test_bytes_total", Help: "Bytes.", Type: catalog.Counter,
		Collector: "test", Key: []string{"namespace", "pod"}, Labels: []string{"direction", "zone"}})
	s := f.attr.Begin(t.Context())
	for id := uint64(1); id <= 3; id++ {
		s.Counter(labelled, id, 10*id, "rx", "z1")
		s.Counter(labelled, id, id, "tx", "a0")
		s.Histogram(latency, id, 3, id, 100*id, "ipv4")
	}
	gathered, err := gather.Gather(nil, func(ch chan<- prometheus.Metric) {
		if err := s.Emit(ch, histOpts); err != nil {
			t.Error(err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `
# HELP test_bytes_total Bytes.
# TYPE test_bytes_total counter
test_bytes_total{direction="rx",namespace="ns-a",pod="pod-a",zone="z1"} 40
test_bytes_total{direction="rx",namespace="ns-b",pod="pod` + "\uFFFD" + `b",zone="z1"} 20
test_bytes_total{direction="tx",namespace="ns-a",pod="pod-a",zone="a0"} 4
test_bytes_total{direction="tx",namespace="ns-b",pod="pod` + "\uFFFD" + `b",zone="a0"} 2
`
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(replay(gathered))
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "test_bytes_total"); err != nil {
		t.Error(err)
	}
	if n := len(gathered); n != 2 {
		t.Fatalf("%d families, want 2", n)
	}
	for _, mf := range gathered {
		for _, m := range mf.Metric {
			if !slices.IsSortedFunc(m.Label, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) }) {
				t.Errorf("%s: label pairs out of order: %v", mf.GetName(), m.Label)
			}
		}
	}
	if n := len(gathered[0].Metric); gathered[0].GetName() != "test_bytes_total" || n != 4 {
		t.Errorf("%s has %d series, want test_bytes_total with 4", gathered[0].GetName(), n)
	}
	if n := len(gathered[1].Metric); gathered[1].GetName() != "test_latency_seconds" || n != 2 {
		t.Errorf("%s has %d series, want test_latency_seconds with 2", gathered[1].GetName(), n)
	}
}

// replay serves gathered families back as metrics, for the pedantic
// registry to check.
type replay []*dto.MetricFamily

func (replay) Describe(chan<- *prometheus.Desc) {}

func (r replay) Collect(ch chan<- prometheus.Metric) {
	for _, mf := range r {
		for _, m := range mf.Metric {
			ch <- dtoMetric{mf, m}
		}
	}
}

type dtoMetric struct {
	mf *dto.MetricFamily
	m  *dto.Metric
}

func (d dtoMetric) Desc() *prometheus.Desc {
	var names []string
	for _, lp := range d.m.Label {
		names = append(names, lp.GetName())
	}
	return prometheus.NewDesc(d.mf.GetName(), d.mf.GetHelp(), names, nil)
}

func (d dtoMetric) Write(out *dto.Metric) error {
	*out = dto.Metric{Label: d.m.Label, Counter: d.m.Counter, Gauge: d.m.Gauge, Histogram: d.m.Histogram}
	return nil
}
