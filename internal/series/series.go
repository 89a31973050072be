// Package series turns rows keyed by something that names a series' owner
// (a cgroup id, a unit name, a key prefix) into labelled Prometheus series:
// labels from a Labeler, merging of rows whose keys resolve to one label
// set, per-metric series caps with an overflow series, and reaping of keys
// that are gone.
//
// A collector keeps one Attributor for its whole life, and per scrape:
//
//	s := attr.Begin(ctx)
//	for key, n := range rows {
//		s.Counter(execsTotal, key, n) // execsTotal is a *catalog.Metric
//	}
//	err := s.Emit(ch, histogramOpts)
//	gone := attr.Expired() // delete their rows where the collector keeps them
package series

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/catalog"
	"github.com/bpfleet/bpfleet/internal/histogram"
	"github.com/bpfleet/bpfleet/internal/limits"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
)

// DefaultGrace is how long the series of a key that is gone are still
// served (so its last increments are scraped) before they are dropped.
const DefaultGrace = 5 * time.Minute

// DefaultMaxSeries caps the keys of one metric.
const DefaultMaxSeries = 10000

// Labeler names the owners of series keys.
type Labeler[K comparable] interface {
	// LabelNames are the key labels, first on every series: the same for
	// the Labeler's whole life.
	LabelNames() []string
	// Labels returns the values of LabelNames for key; alive is false once
	// the owner is gone (the values are then its last known ones). nil
	// values mean "not ready": the key's rows are left out of this scrape
	// (they stay where the collector keeps them, to be served once their
	// labels are known), so that a series never changes labels.
	Labels(ctx context.Context, key K) (values []string, alive bool)
}

// Options configures an Attributor.
type Options[K comparable] struct {
	Labeler   Labeler[K] // required
	Self      *selfmetrics.Metrics
	Grace     time.Duration // DefaultGrace when 0
	MaxSeries int           // DefaultMaxSeries when 0
	Now       func() time.Time
	// IsOverflow, when set, names keys whose rows belong to the overflow
	// series directly (maps.IsOverflow: events the kernel folded because
	// its map was full); they are never looked up, capped or reaped.
	IsOverflow func(K) bool
}

// Attributor is a collector's long-lived attribution state: which keys are
// gone since when, and the series caps of its metrics. Safe for use by one
// scrape at a time.
type Attributor[K comparable] struct {
	opts  Options[K]
	names []string

	mu        sync.Mutex
	goneSince map[K]time.Time
	limiters  map[*catalog.Metric]*limits.Limiter
	descs     map[*catalog.Metric]*prometheus.Desc
	capKeys   map[K]string // key → its label values joined, for Forget
}

// New returns an Attributor.
func New[K comparable](opts Options[K]) *Attributor[K] {
	if opts.Grace == 0 {
		opts.Grace = DefaultGrace
	}
	if opts.MaxSeries == 0 {
		opts.MaxSeries = DefaultMaxSeries
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Attributor[K]{
		opts:      opts,
		names:     opts.Labeler.LabelNames(),
		goneSince: make(map[K]time.Time),
		limiters:  make(map[*catalog.Metric]*limits.Limiter),
		descs:     make(map[*catalog.Metric]*prometheus.Desc),
		capKeys:   make(map[K]string),
	}
}

// LabelNames returns the key labels of every series.
func (a *Attributor[K]) LabelNames() []string { return a.names }

// Desc returns m's descriptor with the Labeler's key labels, made once.
func (a *Attributor[K]) Desc(m *catalog.Metric) *prometheus.Desc {
	a.mu.Lock()
	defer a.mu.Unlock()
	d, ok := a.descs[m]
	if !ok {
		d = m.DescFor(a.names)
		a.descs[m] = d
	}
	return d
}

// Scrape accumulates one scrape's series.
type Scrape[K comparable] struct {
	a        *Attributor[K]
	ctx      context.Context
	labels   map[K]resolved
	admits   map[admitKey]bool // this scrape's cap decisions
	counters map[seriesKey]*counterEntry
	gauges   map[seriesKey]*counterEntry
	hists    map[seriesKey]*histEntry
	order    []seriesKey
}

type resolved struct {
	values []string
	capKey string
}

// seriesKey identifies a series: its metric and its label values.
type seriesKey struct {
	metric *catalog.Metric
	values string
}

type counterEntry struct {
	desc   *prometheus.Desc
	value  float64
	labels []string
}

type histEntry struct {
	desc   *prometheus.Desc
	series histogram.Series
	labels []string
}

// Begin starts a scrape; ctx bounds label lookups.
func (a *Attributor[K]) Begin(ctx context.Context) *Scrape[K] {
	return &Scrape[K]{
		a:        a,
		ctx:      ctx,
		labels:   make(map[K]resolved),
		admits:   make(map[admitKey]bool),
		counters: make(map[seriesKey]*counterEntry),
		gauges:   make(map[seriesKey]*counterEntry),
		hists:    make(map[seriesKey]*histEntry),
	}
}

// resolve labels key once per scrape and tracks whether it is gone.
func (s *Scrape[K]) resolve(key K) resolved {
	if r, ok := s.labels[key]; ok {
		return r
	}
	values, alive := s.a.opts.Labeler.Labels(s.ctx, key)
	r := resolved{values: values, capKey: strings.Join(values, "\xff")}
	s.a.mu.Lock()
	if alive {
		delete(s.a.goneSince, key)
	} else if _, ok := s.a.goneSince[key]; !ok {
		s.a.goneSince[key] = s.a.opts.Now()
	}
	s.a.capKeys[key] = r.capKey
	s.a.mu.Unlock()
	s.labels[key] = r
	return r
}

type admitKey struct {
	metric *catalog.Metric
	capKey string
}

// admitted returns the key label values of key for m, or the overflow
// series' values when m's cap is reached; nil when the key is not ready. Each label set is put to m's
// Limiter once per scrape, however many rows resolve to it, so that the
// overflow counter counts series, not rows.
func (s *Scrape[K]) admitted(m *catalog.Metric, key K) []string {
	if s.a.opts.IsOverflow != nil && s.a.opts.IsOverflow(key) {
		return limits.OverflowValues(len(s.a.names))
	}
	r := s.resolve(key)
	if r.values == nil {
		return nil
	}
	k := admitKey{m, r.capKey}
	ok, seen := s.admits[k]
	if !seen {
		ok = s.a.limiter(m).Admit(r.capKey)
		s.admits[k] = ok
	}
	if ok {
		return r.values
	}
	return limits.OverflowValues(len(s.a.names))
}

// limiter returns m's Limiter, made on first use.
func (a *Attributor[K]) limiter(m *catalog.Metric) *limits.Limiter {
	a.mu.Lock()
	defer a.mu.Unlock()
	lim, ok := a.limiters[m]
	if !ok {
		lim = limits.New(m.Name, a.opts.MaxSeries, a.opts.Self)
		a.limiters[m] = lim
	}
	return lim
}

// values returns the label values of a series of m for key with extra,
// and the series' identity; ok is false when the key is not ready.
func (s *Scrape[K]) values(m *catalog.Metric, key K, extra []string) (values []string, k seriesKey, ok bool) {
	head := s.admitted(m, key)
	if head == nil {
		return nil, seriesKey{}, false
	}
	values = make([]string, 0, len(head)+len(extra))
	values = append(append(values, head...), extra...)
	return values, seriesKey{m, strings.Join(values, "\xff")}, true
}

// Counter adds v to the series of counter m for key, whose label values are
// the key's labels followed by extra (m.Labels' values).
func (s *Scrape[K]) Counter(m *catalog.Metric, key K, v uint64, extra ...string) {
	s.add(s.counters, m, key, float64(v), extra)
}

// Gauge adds v to the series of gauge m for key (label values as in
// Counter): keys that resolve to one label set are summed.
func (s *Scrape[K]) Gauge(m *catalog.Metric, key K, v float64, extra ...string) {
	s.add(s.gauges, m, key, v, extra)
}

func (s *Scrape[K]) add(entries map[seriesKey]*counterEntry, m *catalog.Metric, key K, v float64, extra []string) {
	values, k, ready := s.values(m, key, extra)
	if !ready {
		return
	}
	e, ok := entries[k]
	if !ok {
		e = &counterEntry{desc: s.a.Desc(m), labels: values}
		entries[k] = e
		s.order = append(s.order, k)
	}
	e.value += v
}

// Histogram adds one bucket row to the series of histogram m for key
// (label values as in Counter).
func (s *Scrape[K]) Histogram(m *catalog.Metric, key K, bucket int32, count, rawSum uint64, extra ...string) {
	values, k, ready := s.values(m, key, extra)
	if !ready {
		return
	}
	e, ok := s.hists[k]
	if !ok {
		e = &histEntry{desc: s.a.Desc(m), labels: values}
		s.hists[k] = e
		s.order = append(s.order, k)
	}
	e.series.Add(bucket, count, rawSum)
}

// Emit sends every accumulated series; histograms use opts.
func (s *Scrape[K]) Emit(ch chan<- prometheus.Metric, opts histogram.Opts) error {
	for _, k := range s.order {
		if e, ok := s.counters[k]; ok {
			ch <- prometheus.MustNewConstMetric(e.desc, prometheus.CounterValue, e.value, e.labels...)
			continue
		}
		if e, ok := s.gauges[k]; ok {
			ch <- prometheus.MustNewConstMetric(e.desc, prometheus.GaugeValue, e.value, e.labels...)
			continue
		}
		e := s.hists[k]
		m, err := histogram.NewConstMetric(e.desc, &e.series, opts, e.labels...)
		if err != nil {
			return err
		}
		ch <- m
	}
	return nil
}

// Expired returns the keys gone for longer than the grace period and
// forgets them, releasing their cap slots: the caller deletes their rows
// where it keeps them (BPF maps, its own tables).
func (a *Attributor[K]) Expired() []K {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.opts.Now()
	var keys []K
	for key, since := range a.goneSince {
		if now.Sub(since) < a.opts.Grace {
			continue
		}
		keys = append(keys, key)
		delete(a.goneSince, key)
		for _, lim := range a.limiters {
			lim.Forget(a.capKeys[key])
		}
		delete(a.capKeys, key)
	}
	return keys
}
