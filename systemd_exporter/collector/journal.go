package collector

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/limits"
)

// journalSpec counts journal messages per unit and priority. Off by
// default. Its reader (journal_sdjournal.go) needs cgo and the build tag
// journal; without them the collector is unsupported (journal_stub.go).
var journalSpec = exporter.Spec{
	Name:      "journal",
	Help:      "Journal messages per unit and priority, followed from the exporter's start (needs a binary built with -tags journal).",
	Default:   false,
	MaxSeries: 10000,
	Flags: func(fs *exporter.FlagSet) exporter.New {
		dir := fs.Flag("directory", "Journal directory to follow (e.g. a host's /var/log/journal mounted into a container); empty: the local system journal.").Default("").String()
		var abs string
		fs.Validate(func() (err error) {
			if *dir == "" {
				abs = ""
				return nil
			}
			if abs, err = filepath.Abs(*dir); err != nil {
				return fmt.Errorf("--collector.journal.directory: %w", err)
			}
			return nil
		})
		return func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
			if err := checkJournal(abs); err != nil {
				return nil, err
			}
			return newJournalCollector(abs, env), nil
		}
	},
}

// errJournalNotBuilt is the constructor's error in a binary built without
// the journal reader.
var errJournalNotBuilt = fmt.Errorf("this binary was built without the journal reader (build it with CGO_ENABLED=1 go build -tags journal): %w", errors.ErrUnsupported)

// journalPriorities names the journal's PRIORITY values 0 to 7 (syslog's).
var journalPriorities = [8]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}

// parsePriority returns the priority of a PRIORITY field's value: one
// digit 0 to 7.
func parsePriority(v string) (int, bool) {
	if len(v) != 1 || v[0] < '0' || v[0] > '7' {
		return 0, false
	}
	return int(v[0] - '0'), true
}

// journalCollector counts the messages its Runner reads, per unit
// (_SYSTEMD_UNIT) and priority.
type journalCollector struct {
	dir string
	env exporter.Env

	mu      sync.Mutex
	counts  map[string]*[8]uint64 // unit (or the overflow value) → per priority
	limit   *limits.Limiter       // admission at ingestion: keeps counts bounded
	refused map[string]struct{}   // units refused since the last scrape
}

func newJournalCollector(dir string, env exporter.Env) *journalCollector {
	return &journalCollector{dir: dir, env: env, counts: map[string]*[8]uint64{},
		limit: limits.New(journalMessages.Name, env.MaxSeries, nil), refused: map[string]struct{}{}}
}

// count adds one message of unit at priority prio (0 to 7).
func (c *journalCollector) count(unit string, prio int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.limit.Admit(unit) {
		if len(c.refused) < 4*max(c.env.MaxSeries, 1) {
			c.refused[unit] = struct{}{}
		}
		unit = limits.OverflowLabel
	}
	n := c.counts[unit]
	if n == nil {
		n = new([8]uint64)
		c.counts[unit] = n
	}
	n[prio]++
}

// Update serves the counts; units over the series cap are summed under
// name="__overflow__", each unit refused since the last scrape counted once
// in <ns>_exporter_series_overflow_total.
func (c *journalCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	c.mu.Lock()
	units := make([]string, 0, len(c.counts))
	for u := range c.counts {
		units = append(units, u)
	}
	sort.Strings(units)
	type row struct {
		unit string
		n    [8]uint64
	}
	rows := make([]row, len(units))
	for i, u := range units {
		rows[i] = row{u, *c.counts[u]}
	}
	refused := len(c.refused)
	clear(c.refused)
	c.mu.Unlock()
	if refused > 0 && c.env.Self != nil {
		c.env.Self.AddSeriesOverflow(journalMessages.Name, refused)
	}
	for _, r := range rows {
		for p, n := range r.n {
			if n > 0 {
				ch <- prometheus.MustNewConstMetric(desc(journalMessages), prometheus.CounterValue, float64(n), r.unit, journalPriorities[p])
			}
		}
	}
	return nil
}

// Run follows the journal from its end: messages written before it (or
// while it was failing) are not counted.
func (c *journalCollector) Run(ctx context.Context) error {
	where := c.dir
	if where == "" {
		where = "the system journal"
	}
	return followJournal(ctx, c.dir, func() {
		c.env.Logger.Info("Following the journal", "directory", where)
	}, c.count)
}
