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
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/catalog"
	"github.com/bpfleet/bpfleet/internal/gather"
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
	layouts   map[*catalog.Metric]*layout
	capKeys   map[K]string // key → its label values joined, for Forget

	// known holds, per metric, the series of the last two scrapes by
	// their label values (Scrape.series); gen counts scrapes; lastSeries
	// is the last scrape's counters and gauges, to size the next.
	known      map[*catalog.Metric]map[string]*known
	gen        uint64
	lastSeries int
	// lastKeys and lastAdmits are the last scrape's keys and cap
	// decisions, to size the next's tables.
	lastKeys, lastAdmits int
	compaction           compaction // compact.go
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
		layouts:   make(map[*catalog.Metric]*layout),
		capKeys:   make(map[K]string),
		known:     make(map[*catalog.Metric]map[string]*known),
	}
}

// LabelNames returns the key labels of every series.
func (a *Attributor[K]) LabelNames() []string { return a.names }

// Desc returns m's descriptor with the Labeler's key labels, made once.
func (a *Attributor[K]) Desc(m *catalog.Metric) *prometheus.Desc { return a.layout(m).desc }

// layout is what the series of one metric share: the descriptor, the
// family and the label names in the exposition's order.
type layout struct {
	desc   *prometheus.Desc
	family *gather.Family
	names  []string // the label names, sorted
	order  []int    // names[i] is the label of values[order[i]]
}

func (a *Attributor[K]) layout(m *catalog.Metric) *layout {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, ok := a.layouts[m]
	if !ok {
		names := slices.Concat(a.names, m.Labels)
		order := make([]int, len(names))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(i, j int) int { return strings.Compare(names[i], names[j]) })
		sorted := make([]string, len(names))
		for i, o := range order {
			sorted[i] = names[o]
		}
		l = &layout{desc: m.DescFor(a.names), family: family(m), names: sorted, order: order}
		a.layouts[m] = l
	}
	return l
}

// pairs returns the label pairs of a series with values, as
// prometheus.MakeLabelPairs does, in one block: a series' pairs lie
// together in memory and cost two allocations, not one per string.
func (l *layout) pairs(values []string) []*dto.LabelPair {
	if len(values) != len(l.names) {
		return prometheus.MakeLabelPairs(l.desc, values)
	}
	block := make([]dto.LabelPair, len(values))
	out := make([]*dto.LabelPair, len(values))
	for i, o := range l.order {
		block[i].Name = &l.names[i]
		block[i].Value = &values[o]
		out[i] = &block[i]
	}
	return out
}

// families holds each metric's gather.Family, one for every Attributor
// that serves it, so that a scrape groups their series in one family.
var families sync.Map // *catalog.Metric → *gather.Family

// family returns m's gather.Family.
func family(m *catalog.Metric) *gather.Family {
	if f, ok := families.Load(m); ok {
		return f.(*gather.Family)
	}
	f, _ := families.LoadOrStore(m, &gather.Family{Name: m.Name, Help: m.Help, Type: m.Type.MetricType()})
	return f.(*gather.Family)
}

// Scrape accumulates one scrape's series.
type Scrape[K comparable] struct {
	a      *Attributor[K]
	ctx    context.Context
	labels map[K]resolved
	admits map[admitKey]bool // this scrape's cap decisions
	buf    []byte            // the identity of the series being added
	index  map[*known]int32  // this scrape's counters and gauges: position in values
	values []value           // one per counter or gauge, in the order first added
	hists  map[*known]*histEntry
	order  []*known // every series, in the order first added
}

type resolved struct {
	values []string
	capKey string
}

// known is a series seen in a recent scrape, kept by the Attributor across
// scrapes so that a series' label pairs are built once, not at every
// scrape: its label values and their pairs never change. Its values are
// valid UTF-8 (invalid bytes replaced) and unique in its metric, so its
// metrics skip the registry's checks (gather.Metric).
type known struct {
	desc   *prometheus.Desc
	family *gather.Family
	values []string
	pairs  []*dto.LabelPair
	gen    uint64 // the last scrape that had it
}

// value is one counter or gauge of a scrape, the prometheus.Metric sent
// for it: its label pairs are its known's, its value is this scrape's, so
// a later scrape never changes what an earlier one sent.
type value struct {
	series  *known
	v       float64
	gauge   bool
	counter dto.Counter
	gaugeV  dto.Gauge
}

func (v *value) Desc() *prometheus.Desc { return v.series.desc }

// Family implements gather.Metric.
func (v *value) Family() *gather.Family { return v.series.family }

// Write implements prometheus.Metric without allocating.
func (v *value) Write(out *dto.Metric) error {
	out.Label = v.series.pairs
	if v.gauge {
		v.gaugeV.Value = &v.v
		out.Gauge = &v.gaugeV
	} else {
		v.counter.Value = &v.v
		out.Counter = &v.counter
	}
	return nil
}

// histMetric is a histogram of a known series.
type histMetric struct {
	prometheus.Metric
	family *gather.Family
}

// Family implements gather.Metric.
func (h histMetric) Family() *gather.Family { return h.family }

type histEntry struct {
	series histogram.Series
}

// Begin starts a scrape; ctx bounds label lookups. It forgets the series
// that the scrape before the last one had and the last one did not.
func (a *Attributor[K]) Begin(ctx context.Context) *Scrape[K] {
	a.mu.Lock()
	a.gen++
	for m, byKey := range a.known {
		for k, kn := range byKey {
			if kn.gen+1 < a.gen {
				delete(byKey, k)
			}
		}
		if len(byKey) == 0 {
			delete(a.known, m)
		}
	}
	last, keys, admits := a.lastSeries, a.lastKeys, a.lastAdmits
	a.mu.Unlock()
	return &Scrape[K]{
		a:      a,
		ctx:    ctx,
		labels: make(map[K]resolved, keys),
		admits: make(map[admitKey]bool, admits),
		index:  make(map[*known]int32, last),
		values: make([]value, 0, last),
		hists:  make(map[*known]*histEntry),
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

// series returns the known series of m for key with extra (m.Labels'
// values), made on its first scrape; nil when the key is not ready.
func (s *Scrape[K]) series(m *catalog.Metric, key K, extra []string) *known {
	head := s.admitted(m, key)
	if head == nil {
		return nil
	}
	s.buf = s.buf[:0]
	for _, v := range head {
		s.buf = append(append(s.buf, v...), 0xff)
	}
	for _, v := range extra {
		s.buf = append(append(s.buf, v...), 0xff)
	}
	byKey := s.a.known[m]
	if byKey == nil {
		byKey = make(map[string]*known)
		s.a.known[m] = byKey
	}
	kn := byKey[string(s.buf)]
	if kn == nil {
		values := make([]string, 0, len(head)+len(extra))
		values = append(append(values, head...), extra...)
		for i, v := range values {
			if !utf8.ValidString(v) {
				values[i] = strings.ToValidUTF8(v, "\uFFFD")
			}
		}
		l := s.a.layout(m)
		kn = &known{desc: l.desc, family: l.family, values: values, pairs: l.pairs(values)}
		byKey[string(s.buf)] = kn
	}
	kn.gen = s.a.gen
	return kn
}

// Counter adds v to the series of counter m for key, whose label values are
// the key's labels followed by extra (m.Labels' values).
func (s *Scrape[K]) Counter(m *catalog.Metric, key K, v uint64, extra ...string) {
	s.add(m, key, float64(v), false, extra)
}

// Gauge adds v to the series of gauge m for key (label values as in
// Counter): keys that resolve to one label set are summed.
func (s *Scrape[K]) Gauge(m *catalog.Metric, key K, v float64, extra ...string) {
	s.add(m, key, v, true, extra)
}

func (s *Scrape[K]) add(m *catalog.Metric, key K, v float64, gauge bool, extra []string) {
	kn := s.series(m, key, extra)
	if kn == nil {
		return
	}
	i, ok := s.index[kn]
	if !ok {
		i = int32(len(s.values))
		s.values = append(s.values, value{series: kn, gauge: gauge})
		s.index[kn] = i
		s.order = append(s.order, kn)
	}
	s.values[i].v += v
}

// Histogram adds one bucket row to the series of histogram m for key
// (label values as in Counter).
func (s *Scrape[K]) Histogram(m *catalog.Metric, key K, bucket int32, count, rawSum uint64, extra ...string) {
	kn := s.series(m, key, extra)
	if kn == nil {
		return
	}
	e, ok := s.hists[kn]
	if !ok {
		e = &histEntry{}
		s.hists[kn] = e
		s.order = append(s.order, kn)
	}
	e.series.Add(bucket, count, rawSum)
}

// Emit sends every accumulated series; histograms use opts. The counters
// and gauges it sends stay valid after the next scrape begins.
func (s *Scrape[K]) Emit(ch chan<- prometheus.Metric, opts histogram.Opts) error {
	s.a.mu.Lock()
	s.a.lastSeries, s.a.lastKeys, s.a.lastAdmits = len(s.values), len(s.labels), len(s.admits)
	s.a.mu.Unlock()
	var batch *histogram.Batch
	for _, kn := range s.order {
		if i, ok := s.index[kn]; ok {
			ch <- &s.values[i]
			continue
		}
		if batch == nil {
			var err error
			if batch, err = histogram.NewBatch(opts); err != nil {
				return err
			}
			batch.Reserve(len(s.hists))
		}
		m, err := batch.Metric(kn.desc, kn.pairs, &s.hists[kn].series)
		if err != nil {
			return err
		}
		ch <- histMetric{m, kn.family}
	}
	return nil
}

// Expired returns the keys gone for longer than the grace period and
// forgets them, releasing their cap slots: the caller deletes their rows
// where it keeps them (BPF maps, its own tables).
func (a *Attributor[K]) Expired() []K {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.compact() // compact.go: tables the churn of keys emptied
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
