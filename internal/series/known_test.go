package series

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/catalog"
	"github.com/bpfleet/bpfleet/internal/histogram"
)

type names map[string]bool

func (names) LabelNames() []string { return []string{"name"} }

func (n names) Labels(_ context.Context, key string) ([]string, bool) { return []string{key}, n[key] }

var restartsTotal = (&catalog.Catalog{}).Add(catalog.Metric{Name: "test_restarts_total", Help: "Restarts.",
	Type: catalog.Counter, Collector: "test", Key: []string{"name"}})

func scrape(t *testing.T, a *Attributor[string], rows map[string]uint64) []prometheus.Metric {
	t.Helper()
	s := a.Begin(t.Context())
	for k, v := range rows {
		s.Counter(restartsTotal, k, v)
	}
	ch := make(chan prometheus.Metric, len(rows))
	if err := s.Emit(ch, histogram.Opts{}); err != nil {
		t.Fatal(err)
	}
	close(ch)
	var out []prometheus.Metric
	for m := range ch {
		out = append(out, m)
	}
	return out
}

func write(t *testing.T, m prometheus.Metric) (string, float64) {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetLabel()[0].GetValue(), d.GetCounter().GetValue()
}

// A metric one scrape sent keeps its value while the next scrape runs (the
// registry writes them after Update returns, perhaps during the next), and
// the label pairs of a series are built once and shared.
func TestSentMetricsOutliveTheNextScrape(t *testing.T) {
	a := New(Options[string]{Labeler: names{"a": true}})
	first := scrape(t, a, map[string]uint64{"a": 3})
	second := scrape(t, a, map[string]uint64{"a": 7})
	if name, v := write(t, first[0]); name != "a" || v != 3 {
		t.Errorf("first scrape's metric now reads %s=%v, want a=3", name, v)
	}
	if name, v := write(t, second[0]); name != "a" || v != 7 {
		t.Errorf("second scrape's metric reads %s=%v, want a=7", name, v)
	}
	var d1, d2 dto.Metric
	first[0].Write(&d1)
	second[0].Write(&d2)
	if &d1.GetLabel()[0] != &d2.GetLabel()[0] {
		t.Error("the label pairs of one series were built twice")
	}
}

// Series not served for two scrapes are forgotten: the cache of known
// series is bounded by the series of the last two scrapes, under churn too.
func TestKnownSeriesAreForgotten(t *testing.T) {
	n := names{}
	a := New(Options[string]{Labeler: n, MaxSeries: 1 << 20})
	for i := range 100 {
		key := string(rune('a'+i%26)) + string(rune('a'+i/26))
		n[key] = true
		scrape(t, a, map[string]uint64{key: 1})
		if got := len(a.known[restartsTotal]); got > 2 {
			t.Fatalf("after scrape %d, %d series known, want at most the last two scrapes' 2", i, got)
		}
	}
}
