// Package series turns in-kernel rows keyed by cgroup id into labelled
// Prometheus series: workload attribution, merging of rows that resolve to
// one label set, per-metric series caps with an overflow series, and reaping
// of workloads that are gone.
package series

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/histogram"
	"github.com/bpfleet/bpfleet/internal/limits"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
	"github.com/bpfleet/bpfleet/internal/workload"
)

// DefaultGrace is how long the series of a workload that is gone are still
// served (so its last increments are scraped) before they are dropped.
const DefaultGrace = 5 * time.Minute

// DefaultMaxSeries caps the workloads of one metric.
const DefaultMaxSeries = 10000

// Options configures an Attributor.
type Options struct {
	Resolver  *workload.Resolver // required
	Self      *selfmetrics.Metrics
	Grace     time.Duration // DefaultGrace when 0
	MaxSeries int           // DefaultMaxSeries when 0
	Now       func() time.Time
}

// Attributor is a collector's long-lived attribution state: which cgroups are
// gone since when, and the series caps of its metrics. Safe for use by one
// scrape at a time.
type Attributor struct {
	opts      Options
	mu        sync.Mutex
	goneSince map[uint64]time.Time
	limiters  map[string]*limits.Limiter
	keysOf    map[uint64]string // cgroup id → workload key, for Forget
}

// NewAttributor returns an Attributor.
func NewAttributor(opts Options) *Attributor {
	if opts.Grace == 0 {
		opts.Grace = DefaultGrace
	}
	if opts.MaxSeries == 0 {
		opts.MaxSeries = DefaultMaxSeries
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Attributor{
		opts:      opts,
		goneSince: make(map[uint64]time.Time),
		limiters:  make(map[string]*limits.Limiter),
		keysOf:    make(map[uint64]string),
	}
}

// Scrape accumulates one scrape's series.
type Scrape struct {
	a        *Attributor
	ctx      context.Context
	labels   map[uint64]workload.Labels
	admits   map[admitKey]bool // this scrape's cap decisions
	counters map[seriesKey]*counterEntry
	hists    map[seriesKey]*histEntry
	order    []seriesKey
}

// seriesKey identifies a series: its descriptor and its label values.
type seriesKey struct {
	desc   *prometheus.Desc
	values string
}

type counterEntry struct {
	desc   *prometheus.Desc
	value  uint64
	labels []string
}

type histEntry struct {
	desc   *prometheus.Desc
	series histogram.Series
	labels []string
}

// Begin starts a scrape; ctx bounds workload lookups.
func (a *Attributor) Begin(ctx context.Context) *Scrape {
	return &Scrape{
		a:        a,
		ctx:      ctx,
		labels:   make(map[uint64]workload.Labels),
		admits:   make(map[admitKey]bool),
		counters: make(map[seriesKey]*counterEntry),
		hists:    make(map[seriesKey]*histEntry),
	}
}

// workload resolves id once per scrape and tracks whether it is gone.
func (s *Scrape) workload(id uint64) workload.Labels {
	if l, ok := s.labels[id]; ok {
		return l
	}
	l, alive := s.a.opts.Resolver.Lookup(s.ctx, id)
	s.a.mu.Lock()
	if alive {
		delete(s.a.goneSince, id)
	} else if _, ok := s.a.goneSince[id]; !ok {
		s.a.goneSince[id] = s.a.opts.Now()
	}
	s.a.keysOf[id] = l.Cgroup
	s.a.mu.Unlock()
	s.labels[id] = l
	return l
}

type admitKey struct{ metric, cgroup string }

// admitted returns the workload label values of id for metric, or the
// overflow series' values when metric's cap is reached. Each workload is
// put to the metric's Limiter once per scrape, however many rows it has, so
// that the overflow counter counts workloads, not rows.
func (s *Scrape) admitted(metric string, id uint64) []string {
	l := s.workload(id)
	k := admitKey{metric, l.Cgroup}
	ok, seen := s.admits[k]
	if !seen {
		ok = s.a.limiter(metric).Admit(l.Cgroup)
		s.admits[k] = ok
	}
	if ok {
		return l.Values()
	}
	return limits.OverflowLabels().Values()
}

// limiter returns metric's Limiter, made on first use.
func (a *Attributor) limiter(metric string) *limits.Limiter {
	a.mu.Lock()
	defer a.mu.Unlock()
	lim, ok := a.limiters[metric]
	if !ok {
		lim = limits.New(metric, a.opts.MaxSeries, a.opts.Self)
		a.limiters[metric] = lim
	}
	return lim
}

func keyOf(desc *prometheus.Desc, values []string) seriesKey {
	return seriesKey{desc, strings.Join(values, "\xff")}
}

// Counter adds v to the counter series of desc for workload id, whose label
// values are the workload labels followed by extra. metric names the cap.
func (s *Scrape) Counter(desc *prometheus.Desc, metric string, id uint64, v uint64, extra ...string) {
	values := append(s.admitted(metric, id), extra...)
	k := keyOf(desc, values)
	e, ok := s.counters[k]
	if !ok {
		e = &counterEntry{desc: desc, labels: values}
		s.counters[k] = e
		s.order = append(s.order, k)
	}
	e.value += v
}

// Histogram adds one bucket row to the histogram series of desc for
// workload id (label values as in Counter).
func (s *Scrape) Histogram(desc *prometheus.Desc, metric string, id uint64, bucket int32, count, rawSum uint64, extra ...string) {
	values := append(s.admitted(metric, id), extra...)
	k := keyOf(desc, values)
	e, ok := s.hists[k]
	if !ok {
		e = &histEntry{desc: desc, labels: values}
		s.hists[k] = e
		s.order = append(s.order, k)
	}
	e.series.Add(bucket, count, rawSum)
}

// Emit sends every accumulated series; histograms use opts.
func (s *Scrape) Emit(ch chan<- prometheus.Metric, opts histogram.Opts) error {
	for _, k := range s.order {
		if e, ok := s.counters[k]; ok {
			ch <- prometheus.MustNewConstMetric(e.desc, prometheus.CounterValue, float64(e.value), e.labels...)
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

// Expired returns the cgroup ids gone for longer than the grace period and
// forgets them: the caller deletes their rows from its maps.
func (a *Attributor) Expired() []uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.opts.Now()
	var ids []uint64
	for id, since := range a.goneSince {
		if now.Sub(since) < a.opts.Grace {
			continue
		}
		ids = append(ids, id)
		delete(a.goneSince, id)
		for _, lim := range a.limiters {
			lim.Forget(a.keysOf[id])
		}
		delete(a.keysOf, id)
	}
	return ids
}
