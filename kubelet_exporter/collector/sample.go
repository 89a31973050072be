package collector

import (
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/catalog"
)

// sample is one series: a metric's descriptor, a value, and label pairs
// shared by every series of one pod, container, volume or node figure. A
// series costs one allocation here, where prometheus.NewConstMetric makes
// three per label; a 500-pod node serves thousands of series per scrape.
type sample struct {
	desc    *prometheus.Desc
	counter bool
	value   float64
	labels  []*dto.LabelPair
}

func (s *sample) Desc() *prometheus.Desc { return s.desc }

func (s *sample) Write(m *dto.Metric) error {
	m.Label = s.labels
	v := s.value
	if s.counter {
		m.Counter = &dto.Counter{Value: &v}
	} else {
		m.Gauge = &dto.Gauge{Value: &v}
	}
	return nil
}

// labels is a label set in the order Prometheus wants: sorted by name.
type labels []*dto.LabelPair

// labelSet pairs names with values (namesAndValues alternate: name, value,
// ...) and sorts them by name.
func labelSet(namesAndValues ...string) labels {
	out := make(labels, 0, len(namesAndValues)/2)
	for i := 0; i+1 < len(namesAndValues); i += 2 {
		name, value := namesAndValues[i], namesAndValues[i+1]
		out = append(out, &dto.LabelPair{Name: &name, Value: &value})
	}
	slices.SortFunc(out, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

// with returns the set plus more labels, sorted; the set is not changed.
func (l labels) with(namesAndValues ...string) labels {
	out := make(labels, 0, len(l)+len(namesAndValues)/2)
	out = append(out, l...)
	out = append(out, labelSet(namesAndValues...)...)
	slices.SortFunc(out, func(a, b *dto.LabelPair) int { return strings.Compare(a.GetName(), b.GetName()) })
	return out
}

// send serves *v × scale as metric m with ls, or nothing when v is nil (a
// field the kubelet left out).
func send(ch chan<- prometheus.Metric, m *catalog.Metric, v *uint64, scale float64, ls labels) {
	if v == nil {
		return
	}
	ch <- &sample{desc: descs()[m], counter: m.Type == catalog.Counter, value: float64(*v) * scale, labels: ls}
}
