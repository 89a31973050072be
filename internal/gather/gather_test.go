package gather

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// fastCounter is a gather.Metric with one label.
type fastCounter struct {
	fam   *Family
	desc  *prometheus.Desc
	pairs []*dto.LabelPair
	v     float64
	gauge bool // writes a gauge whatever its family says
	err   error
}

func (c *fastCounter) Desc() *prometheus.Desc { return c.desc }
func (c *fastCounter) Family() *Family        { return c.fam }
func (c *fastCounter) Write(out *dto.Metric) error {
	if c.err != nil {
		return c.err
	}
	out.Label = c.pairs
	if c.gauge {
		out.Gauge = &dto.Gauge{Value: &c.v}
	} else {
		out.Counter = &dto.Counter{Value: &c.v}
	}
	return nil
}

func counter(fam *Family, desc *prometheus.Desc, v float64, label string) *fastCounter {
	return &fastCounter{fam: fam, desc: desc, v: v, pairs: prometheus.MakeLabelPairs(desc, []string{label})}
}

func TestGatherGroupsFastMetricsAndChecksTheOthers(t *testing.T) {
	fam := &Family{Name: "x_total", Help: "X.", Type: dto.MetricType_COUNTER}
	desc := prometheus.NewDesc("x_total", "X.", []string{"w"}, nil)
	// A second Family value of the same name (another collector serving
	// the metric) joins the first.
	twin := &Family{Name: "x_total", Help: "X.", Type: dto.MetricType_COUNTER}
	checked := prometheus.NewDesc("a_checked", "A.", []string{"k"}, nil)

	reg := prometheus.NewRegistry()
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "z_static", Help: "Z."}, func() float64 { return 7 }))

	families, err := Gather(prometheus.Gatherers{reg}, func(ch chan<- prometheus.Metric) {
		for i := range 3000 { // more than one slab
			ch <- counter(fam, desc, float64(i), "w"+strings.Repeat("x", i%7)+string(rune('a'+i%26))+strconv.Itoa(i))
		}
		ch <- counter(twin, desc, 1, "twin")
		ch <- prometheus.MustNewConstMetric(checked, prometheus.GaugeValue, 1, "one")
		ch <- prometheus.MustNewConstMetric(checked, prometheus.GaugeValue, 2, "one") // duplicate: checked
	})
	if err == nil || !strings.Contains(err.Error(), "was collected before with the same name and label values") {
		t.Fatalf("err = %v, want the registry's duplicate error", err)
	}
	var names []string
	for _, mf := range families {
		names = append(names, mf.GetName())
	}
	if got, want := strings.Join(names, ","), "a_checked,x_total,z_static"; got != want {
		t.Fatalf("families %s, want %s", got, want)
	}
	if n := len(families[0].Metric); n != 1 {
		t.Errorf("a_checked has %d series, want 1 (the duplicate dropped)", n)
	}
	x := families[1]
	if x.GetHelp() != "X." || x.GetType() != dto.MetricType_COUNTER {
		t.Errorf("x_total help %q type %s", x.GetHelp(), x.GetType())
	}
	if n := len(x.Metric); n != 3001 {
		t.Fatalf("x_total has %d series, want 3001", n)
	}
	sum := 0.0
	for _, m := range x.Metric {
		sum += m.GetCounter().GetValue()
	}
	if want := float64(2999*3000/2 + 1); sum != want {
		t.Errorf("x_total sums to %v, want %v", sum, want)
	}
	if v := families[2].Metric[0].GetGauge().GetValue(); v != 7 {
		t.Errorf("z_static = %v, want 7", v)
	}
}

func TestGatherMergesAFastFamilyIntoACheckedOneOfTheSameName(t *testing.T) {
	fam := &Family{Name: "m", Help: "M.", Type: dto.MetricType_COUNTER}
	desc := prometheus.NewDesc("m", "M.", []string{"w"}, nil)
	families, err := Gather(nil, func(ch chan<- prometheus.Metric) {
		ch <- counter(fam, desc, 1, "fast")
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, 2, "checked")
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(families) != 1 || len(families[0].Metric) != 2 {
		t.Fatalf("got %v, want one family of two series", families)
	}
	if got := families[0].Metric[0].GetLabel()[0].GetValue(); got != "checked" {
		t.Errorf("first series %q, want the checked one first", got)
	}
}

func TestGatherReportsWhatTheRegistryWouldHave(t *testing.T) {
	desc := prometheus.NewDesc("m", "M.", []string{"w"}, nil)
	for _, tc := range []struct {
		name    string
		metrics func() []prometheus.Metric
		want    string
		series  int
	}{
		{"write error", func() []prometheus.Metric {
			bad := counter(&Family{Name: "m", Help: "M.", Type: dto.MetricType_COUNTER}, desc, 1, "bad")
			bad.err = errors.New("boom")
			return []prometheus.Metric{bad, counter(bad.fam, desc, 2, "good")}
		}, "boom", 1},
		{"value of another type", func() []prometheus.Metric {
			fam := &Family{Name: "m", Help: "M.", Type: dto.MetricType_COUNTER}
			bad := counter(fam, desc, 1, "bad")
			bad.gauge = true
			return []prometheus.Metric{bad, counter(fam, desc, 2, "good")}
		}, "is not a COUNTER", 1},
		{"help differs from the checked family", func() []prometheus.Metric {
			return []prometheus.Metric{
				prometheus.MustNewConstMetric(desc, prometheus.CounterValue, 2, "checked"),
				counter(&Family{Name: "m", Help: "Other.", Type: dto.MetricType_COUNTER}, desc, 1, "fast"),
			}
		}, `has help "Other." but should have "M."`, 1},
		{"type differs between fast families", func() []prometheus.Metric {
			g := counter(&Family{Name: "m", Help: "M.", Type: dto.MetricType_GAUGE}, desc, 1, "g")
			g.gauge = true
			return []prometheus.Metric{g, counter(&Family{Name: "m", Help: "M.", Type: dto.MetricType_COUNTER}, desc, 1, "c")}
		}, "has type", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			families, err := Gather(nil, func(ch chan<- prometheus.Metric) {
				for _, m := range tc.metrics() {
					ch <- m
				}
			})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if len(families) != 1 || len(families[0].Metric) != tc.series {
				t.Fatalf("families %v, want one of %d series", families, tc.series)
			}
		})
	}
}
