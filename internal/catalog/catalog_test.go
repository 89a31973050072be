package catalog_test

import (
	"strings"
	"testing"

	"github.com/bpfleet/bpfleet/internal/catalog"
)

func TestCatalog(t *testing.T) {
	var c catalog.Catalog
	m := c.Add(catalog.Metric{Name: "test_events_total", Help: "Events.", Type: catalog.Counter,
		Collector: "events", Key: []string{"unit"}, Labels: []string{"result"}})
	if got := strings.Join(m.LabelNames(), ","); got != "unit,result" {
		t.Errorf("LabelNames() = %s, want unit,result", got)
	}
	if got, want := m.Desc().String(), `Desc{fqName: "test_events_total", help: "Events.", unit: "", constLabels: {}, variableLabels: {unit,result}}`; got != want {
		t.Errorf("Desc() = %s\nwant %s", got, want)
	}
	if got := m.DescFor(nil).String(); !strings.Contains(got, "variableLabels: {result}") {
		t.Errorf("DescFor(nil) = %s, want only the result label", got)
	}
	if got, ok := c.Lookup("test_events_total"); !ok || got != m {
		t.Errorf("Lookup() = %v, %v; want the added metric", got, ok)
	}
	if _, ok := c.Lookup("test_missing"); ok {
		t.Error("Lookup(test_missing) found a metric")
	}
}

func TestCatalogRejectsBadMetrics(t *testing.T) {
	for name, m := range map[string]catalog.Metric{
		"no help":      {Name: "test_a", Type: catalog.Gauge, Collector: "a"},
		"no collector": {Name: "test_a", Help: "A.", Type: catalog.Gauge},
		"bad type":     {Name: "test_a", Help: "A.", Type: "summary", Collector: "a"},
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("Add(%+v) did not panic", m)
				}
			}()
			var c catalog.Catalog
			c.Add(m)
		})
	}
	t.Run("twice", func(t *testing.T) {
		defer func() {
			if recover() == nil {
				t.Error("adding a name twice did not panic")
			}
		}()
		var c catalog.Catalog
		c.Add(catalog.Metric{Name: "test_a", Help: "A.", Type: catalog.Gauge, Collector: "a"})
		c.Add(catalog.Metric{Name: "test_a", Help: "A.", Type: catalog.Gauge, Collector: "a"})
	})
}
