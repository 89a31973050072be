package series

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/histogram"
	"github.com/bpfleet/bpfleet/internal/limits"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
	"github.com/bpfleet/bpfleet/internal/testenv"
	"github.com/bpfleet/bpfleet/internal/workload"
)

var (
	execsDesc = prometheus.NewDesc("test_execs_total", "Execs.", workload.LabelNames, nil)
	latDesc   = prometheus.NewDesc("test_latency_seconds", "Latency.", append(workload.LabelNames[:4:4], "family"), nil)
)

type fixture struct {
	attr *Attributor
	reg  *prometheus.Registry
	now  time.Time
}

func newFixture(t *testing.T, maxSeries int) *fixture {
	t.Helper()
	testenv.RequireRoot(t)
	r, err := workload.NewResolver(workload.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	f := &fixture{reg: prometheus.NewRegistry(), now: time.Unix(1000, 0)}
	self, err := selfmetrics.New("test", f.reg)
	if err != nil {
		t.Fatal(err)
	}
	f.attr = NewAttributor(Options{Resolver: r, Self: self, MaxSeries: maxSeries, Grace: time.Minute,
		Now: func() time.Time { return f.now }})
	return f
}

// emit returns the scrape's series as "name{labels} value" → value.
func emit(t *testing.T, s *Scrape) map[string]*dto.Metric {
	t.Helper()
	ch := make(chan prometheus.Metric, 100)
	if err := s.Emit(ch, histogram.Opts{Schema: histogram.KernelSchema, Scale: 1e-9, Classic: histogram.ClassicPowersOfTwo(-10, 0)}); err != nil {
		t.Fatal(err)
	}
	close(ch)
	out := make(map[string]*dto.Metric)
	for m := range ch {
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			t.Fatal(err)
		}
		key := ""
		for _, l := range pb.GetLabel() {
			key += l.GetName() + "=" + l.GetValue() + ","
		}
		out[key] = &pb
	}
	return out
}

func TestRowsOfOneWorkloadMerge(t *testing.T) {
	f := newFixture(t, 0)
	cg := testenv.NewCgroup(t)
	s := f.attr.Begin(context.Background())
	s.Counter(execsDesc, "test_execs_total", cg.ID, 3)
	s.Counter(execsDesc, "test_execs_total", cg.ID, 4)
	s.Histogram(latDesc, "test_latency_seconds", cg.ID, 0, 2, 2e9, "ipv4")
	s.Histogram(latDesc, "test_latency_seconds", cg.ID, -8, 1, 5e8, "ipv4")
	got := emit(t, s)
	wl := "cgroup=" + cg.Path + ",container=,namespace=,pod=,"
	if m := got[wl]; m.GetCounter().GetValue() != 7 {
		t.Errorf("merged counter = %v, want 7", m)
	}
	h := got["cgroup="+cg.Path+",container=,family=ipv4,namespace=,pod=,"].GetHistogram()
	if h.GetSampleCount() != 3 || h.GetSampleSum() != 2.5 {
		t.Errorf("merged histogram count %d sum %v, want 3 and 2.5", h.GetSampleCount(), h.GetSampleSum())
	}
	if len(got) != 2 {
		t.Errorf("%d series, want 2: %v", len(got), got)
	}
}

func TestSeriesBeyondTheCapFoldIntoOverflow(t *testing.T) {
	f := newFixture(t, 2)
	cgs := []*testenv.Cgroup{testenv.NewCgroup(t), testenv.NewCgroup(t), testenv.NewCgroup(t), testenv.NewCgroup(t)}
	for scrape := 1; scrape <= 2; scrape++ {
		s := f.attr.Begin(context.Background())
		for i, cg := range cgs {
			// Two rows per workload: the cap counts workloads, not rows.
			s.Counter(execsDesc, "test_execs_total", cg.ID, uint64(10*(i+1)-1))
			s.Counter(execsDesc, "test_execs_total", cg.ID, 1)
		}
		got := emit(t, s)
		if len(got) != 3 {
			t.Fatalf("scrape %d: %d series, want 2 workloads and the overflow: %v", scrape, len(got), got)
		}
		// The first two admitted keep their series; the others add up.
		over := got["cgroup="+limits.OverflowLabel+",container=,namespace=,pod=,"]
		if v := over.GetCounter().GetValue(); v != 30+40 {
			t.Errorf("scrape %d: overflow = %v, want 70", scrape, v)
		}
		if n, want := overflowTotal(t, f.reg), float64(2*scrape); n != want {
			t.Errorf("scrape %d: test_series_overflow_total = %v, want %v", scrape, n, want)
		}
	}
}

// overflowTotal reads test_series_overflow_total{metric="test_execs_total"}.
func overflowTotal(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range families {
		for _, m := range fam.GetMetric() {
			if fam.GetName() == "test_series_overflow_total" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

func TestGoneWorkloadsExpireAfterGrace(t *testing.T) {
	f := newFixture(t, 0)
	cg := testenv.NewCgroup(t)
	s := f.attr.Begin(context.Background())
	s.Counter(execsDesc, "test_execs_total", cg.ID, 1) // resolved while alive
	cg.Remove(t)

	f.now = f.now.Add(time.Second)
	s = f.attr.Begin(context.Background())
	s.Counter(execsDesc, "test_execs_total", cg.ID, 1)
	if got := emit(t, s); got["cgroup="+cg.Path+",container=,namespace=,pod=,"] == nil {
		t.Errorf("a gone workload lost its labels within the grace period: %v", got)
	}
	if ids := f.attr.Expired(); len(ids) != 0 {
		t.Errorf("expired %v within the grace period", ids)
	}
	f.now = f.now.Add(time.Minute)
	if ids := f.attr.Expired(); len(ids) != 1 || ids[0] != cg.ID {
		t.Errorf("expired %v after the grace period, want [%d]", ids, cg.ID)
	}
	if ids := f.attr.Expired(); len(ids) != 0 {
		t.Errorf("expired %v again", ids)
	}
}
