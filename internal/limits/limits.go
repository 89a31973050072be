// Package limits caps the number of series of a metric.
//
// A collector keeps one Limiter per capped metric and asks it, at every
// scrape, whether each series may be exposed under its own labels:
//
//	for key, v := range perKey {
//		values := v.labelValues
//		if !limiter.Admit(key) {
//			values = limits.OverflowValues(len(values))
//		}
//		... // sum v into the series of values
//	}
//
// Series that are refused are summed into one overflow series whose first
// key label is OverflowLabel and whose other key labels are empty, so the
// metric's totals stay right while its cardinality stays bounded.
// internal/series does this for every keyed metric.
package limits

import (
	"sync"

	"github.com/bpfleet/bpfleet/internal/selfmetrics"
	"github.com/bpfleet/bpfleet/internal/shrink"
)

// OverflowLabel is the value of the first key label of the overflow series.
const OverflowLabel = "__overflow__"

// OverflowValues returns the n key label values of the overflow series.
func OverflowValues(n int) []string {
	v := make([]string, n)
	if n > 0 {
		v[0] = OverflowLabel
	}
	return v
}

// Limiter admits at most max distinct series keys of one metric. Admission
// is sticky: an admitted key stays admitted, so a series never moves between
// its own labels and the overflow series, until Forget releases its slot.
// Safe for concurrent use.
type Limiter struct {
	metric string
	max    int
	self   *selfmetrics.Metrics

	mu       sync.Mutex
	admitted map[string]struct{}
	peak     int // the most keys admitted since admitted was made
}

// New returns a Limiter for metric (its full name, e.g.
// "kernel_process_exits_total"), which admits at most max keys; max <= 0
// admits every key. Refusals are counted in self (nil counts nothing).
func New(metric string, max int, self *selfmetrics.Metrics) *Limiter {
	return &Limiter{
		metric:   metric,
		max:      max,
		self:     self,
		admitted: make(map[string]struct{}),
	}
}

// Admit reports whether the series with key may be exposed under its own
// labels. It admits keys already admitted and, while fewer than max keys are
// admitted, new ones.
//
// Call Admit once per series per scrape: every refusal adds 1 to
// <ns>_exporter_series_overflow_total{metric}, so that counter is the number of
// series of metric folded into its overflow series, summed over scrapes (a
// series refused at 3 scrapes counts 3). Its rate is the number of series
// over the cap per scrape times the scrape rate.
func (l *Limiter) Admit(key string) bool {
	if l.admit(key) {
		return true
	}
	if l.self != nil {
		l.self.AddSeriesOverflow(l.metric, 1)
	}
	return false
}

func (l *Limiter) admit(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if _, ok := l.admitted[key]; ok {
		return true
	}
	if l.max > 0 && len(l.admitted) >= l.max {
		return false
	}
	l.admitted[key] = struct{}{}
	l.peak = max(l.peak, len(l.admitted))
	return true
}

// Forget releases the slot of key, for instance when its workload is gone;
// a later Admit of key competes for a slot like a new key. Forgetting a key
// that is not admitted does nothing.
//
// Once a quarter or less of the most keys ever admitted remain (after a
// churn of workloads; shrink.Due), the table is rebuilt with the keys that
// remain: a Go map never shrinks, and a table sized for thousands of keys
// would otherwise stay for good.
func (l *Limiter) Forget(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.admitted, key)
	if shrink.Due(len(l.admitted), l.peak) {
		fresh := make(map[string]struct{}, len(l.admitted))
		for k := range l.admitted {
			fresh[k] = struct{}{}
		}
		l.admitted = fresh
		l.peak = len(fresh)
	}
}

// Len returns the number of admitted keys.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.admitted)
}
