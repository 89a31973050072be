package collector

import (
	"context"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/exporter"
)

// TestJournalSeriesCap: with a cap of 2 unit names, the first two units
// counted keep their own series and every later one is summed under
// name="__overflow__", per priority.
func TestJournalSeriesCap(t *testing.T) {
	c := newJournalCollector("", exporter.Env{MaxSeries: 2})
	for _, m := range []struct {
		unit string
		prio int
		n    int
	}{{"a.service", 3, 2}, {"b.service", 6, 1}, {"c.service", 3, 4}, {"d.service", 7, 1}, {"a.service", 6, 1}} {
		for range m.n {
			c.count(m.unit, m.prio)
		}
	}
	ch := make(chan prometheus.Metric, 100)
	if err := c.Update(context.Background(), ch); err != nil {
		t.Fatal(err)
	}
	close(ch)
	got := map[string]float64{}
	for m := range ch {
		var d dto.Metric
		if err := m.Write(&d); err != nil {
			t.Fatal(err)
		}
		l := map[string]string{}
		for _, p := range d.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		got[l["name"]+"/"+l["priority"]] += d.GetCounter().GetValue()
	}
	want := map[string]float64{"a.service/err": 2, "a.service/info": 1, "b.service/info": 1,
		"__overflow__/err": 4, "__overflow__/debug": 1}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
}

// TestParsePriority: the journal's PRIORITY values 0 to 7 and nothing else.
func TestParsePriority(t *testing.T) {
	for v, want := range map[string]int{"0": 0, "3": 3, "6": 6, "7": 7} {
		if p, ok := parsePriority(v); !ok || p != want {
			t.Errorf("parsePriority(%q) = %d, %v; want %d", v, p, ok, want)
		}
	}
	for _, v := range []string{"", "8", "-1", "03", " 3", "err", "9"} {
		if p, ok := parsePriority(v); ok {
			t.Errorf("parsePriority(%q) = %d, want refused", v, p)
		}
	}
}

func FuzzParsePriority(f *testing.F) {
	for _, s := range []string{"0", "7", "8", "", "33", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		p, ok := parsePriority(v)
		if ok != (len(v) == 1 && v[0] >= '0' && v[0] <= '7') {
			t.Fatalf("parsePriority(%q) ok = %v", v, ok)
		}
		if ok && journalPriorities[p] == "" {
			t.Fatalf("parsePriority(%q) = %d: no name", v, p)
		}
	})
}
