// Package gather turns one scrape's metrics into metric families for the
// exposition, without client_golang's registry checks for the metrics whose
// maker already guarantees what those checks would: the per-workload series
// of internal/series, tens of thousands per scrape on a busy node.
//
// A prometheus.Registry writes every metric into a new dto.Metric, hashes
// its label values to find duplicates, checks its label names and values
// and then sorts each family's series by label values; prometheus.Gatherers
// does it all once more when registries are merged. For a metric that
// implements Metric (it names its Family, its label pairs are built once,
// valid and unique in the family) Gather only writes it into a slab of
// dto.Metric values and appends it to its family; every other metric goes
// through a registry as before, with every check.
package gather

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Family names a metric family: what a Desc holds, readable.
type Family struct {
	Name string
	Help string
	Type dto.MetricType
}

// Metric is a prometheus.Metric that names its family. Whoever makes one
// guarantees what the registry would check: label names valid and sorted
// (prometheus.MakeLabelPairs), label values valid UTF-8, no other series of
// the family with the same label values in a scrape, and Write filling the
// value of the Family's type.
type Metric interface {
	prometheus.Metric
	Family() *Family
}

// The dto.Metric values of a scrape are allocated in slabs of minSlab,
// doubling up to maxSlab: a scrape of few series allocates little.
const (
	minSlab = 64
	maxSlab = 1024
)

// Gather gathers base and the metrics collect sends (collect returns once
// it has sent them all). The families come out sorted by name; the series
// of a family in the order they were sent, Metric ones after checked ones.
// Errors are those of prometheus.Gatherers: the families come with them,
// less the metrics in error.
func Gather(base prometheus.Gatherers, collect func(chan<- prometheus.Metric)) ([]*dto.MetricFamily, error) {
	ch := make(chan prometheus.Metric, 256)
	go func() {
		defer close(ch)
		collect(ch)
	}()
	var (
		checked []prometheus.Metric
		fast    = map[*Family]*dto.MetricFamily{}
		errs    prometheus.MultiError
		free    []dto.Metric
		next    = minSlab
	)
	for m := range ch {
		f, ok := m.(Metric)
		if !ok {
			checked = append(checked, m)
			continue
		}
		if len(free) == 0 {
			free = make([]dto.Metric, next)
			next = min(2*next, maxSlab)
		}
		out := &free[0]
		if err := m.Write(out); err != nil {
			*out = dto.Metric{}
			errs = append(errs, fmt.Errorf("error collecting metric %v: %w", m.Desc(), err))
			continue
		}
		fam := f.Family()
		if !typed(out, fam.Type) {
			errs = append(errs, fmt.Errorf("collected metric %q { %s} is not a %s", fam.Name, out, fam.Type))
			*out = dto.Metric{}
			continue
		}
		free = free[1:]
		mf := fast[fam]
		if mf == nil {
			mf = &dto.MetricFamily{Name: &fam.Name, Help: &fam.Help, Type: &fam.Type}
			fast[fam] = mf
		}
		mf.Metric = append(mf.Metric, out)
	}
	if len(checked) > 0 {
		reg := prometheus.NewRegistry()
		reg.MustRegister(replay(checked))
		base = append(base[:len(base):len(base)], reg)
	}
	families, err := base.Gather()
	if err != nil {
		errs = append(errs, err)
	}
	return merge(families, fast, errs)
}

// merge adds the fast families to families (sorted by name): fast families
// of one name are one family, and one that a checked family already names
// joins it; in both cases their help and type must agree.
func merge(families []*dto.MetricFamily, fast map[*Family]*dto.MetricFamily, errs prometheus.MultiError) ([]*dto.MetricFamily, error) {
	out := make([]*dto.MetricFamily, 0, len(families)+len(fast))
	out = append(out, families...)
	for _, mf := range fast {
		out = append(out, mf)
	}
	// A stable sort keeps a checked family before the fast ones of its name.
	slices.SortStableFunc(out, func(a, b *dto.MetricFamily) int { return cmp.Compare(a.GetName(), b.GetName()) })
	merged := out[:0]
	for _, mf := range out {
		if len(merged) == 0 || merged[len(merged)-1].GetName() != mf.GetName() {
			merged = append(merged, mf)
			continue
		}
		have := merged[len(merged)-1]
		switch {
		case have.GetHelp() != mf.GetHelp():
			errs = append(errs, fmt.Errorf("gathered metric family %s has help %q but should have %q", mf.GetName(), mf.GetHelp(), have.GetHelp()))
		case have.GetType() != mf.GetType():
			errs = append(errs, fmt.Errorf("gathered metric family %s has type %s but should have %s", mf.GetName(), mf.GetType(), have.GetType()))
		default:
			have.Metric = append(have.Metric, mf.Metric...)
		}
	}
	return merged, errs.MaybeUnwrap()
}

// typed reports whether m holds a value of type t.
func typed(m *dto.Metric, t dto.MetricType) bool {
	switch t {
	case dto.MetricType_COUNTER:
		return m.Counter != nil
	case dto.MetricType_GAUGE:
		return m.Gauge != nil
	case dto.MetricType_HISTOGRAM, dto.MetricType_GAUGE_HISTOGRAM:
		return m.Histogram != nil
	case dto.MetricType_SUMMARY:
		return m.Summary != nil
	case dto.MetricType_UNTYPED:
		return m.Untyped != nil
	}
	return false
}

// replay is an unchecked prometheus.Collector sending metrics already made.
type replay []prometheus.Metric

func (replay) Describe(chan<- *prometheus.Desc) {}

func (r replay) Collect(ch chan<- prometheus.Metric) {
	for _, m := range r {
		ch <- m
	}
}
