// Package collector holds kernel_exporter's collectors: one file per
// collector, each loading its own BPF objects (bpf/kernel/<name>.bpf.c),
// whose generated bindings sit beside it.
package collector

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/histogram"
	"github.com/bpfleet/bpfleet/internal/maps"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
	"github.com/bpfleet/bpfleet/internal/series"
	"github.com/bpfleet/bpfleet/internal/workload"
)

const namespace = "kernel"

// Specs returns every kernel_exporter collector, all on by default.
func Specs() []exporter.Spec {
	return []exporter.Spec{
		{Name: "block", Help: "block I/O latency per device and operation", Default: true, Constructor: newBlock},
		{Name: "oom", Help: "OOM kills per victim workload", Default: true, Constructor: newOOM},
		{Name: "process", Help: "process execs, forks and exits per workload", Default: true, Constructor: newProcess},
		{Name: "sched", Help: "run-queue latency per workload", Default: true, Constructor: newSched},
		{Name: "tcp", Help: "TCP connections, failures, latency, retransmits and resets per workload", Default: true, Constructor: newTCP},
	}
}

// Descs returns the descriptors of every metric the collectors serve (the
// scaffold's and self-metrics aside), for documentation checks.
func Descs() []*prometheus.Desc {
	return []*prometheus.Desc{
		blockIOLatencyDesc, oomKillsDesc, processExecsDesc, processForksDesc, processExitsDesc,
		schedRunqueueLatencyDesc, tcpConnectionsDesc, tcpConnectFailuresDesc, tcpConnectLatencyDesc,
		tcpRetransmitsDesc, tcpResetsDesc,
	}
}

// workloadDesc describes a per-workload metric: workload labels, then extra.
func workloadDesc(name, help string, extra ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help,
		append(slices.Clone(workload.LabelNames), extra...), nil)
}

// counterEvent names one counter_key.event value of a program.
type counterEvent struct {
	desc   *prometheus.Desc
	metric string   // the metric's name, for its series cap
	extra  []string // values of the desc's extra labels
}

// latencyOpts are the histogram options of the latency metrics: the kernel
// measures nanoseconds; classic buckets from about 1µs (2^-20 s) to 8 s.
var latencyOpts = histogram.Opts{
	Schema:  histogram.KernelSchema,
	Scale:   1e-9,
	Classic: histogram.ClassicPowersOfTwo(-20, 3),
}

// bpfCollector is what every collector of this exporter shares: its loaded
// programs, lost-event counters and attribution state.
type bpfCollector struct {
	name string
	set  *bpfload.Set
	self *selfmetrics.Metrics
	lost *ebpf.Map
	attr *series.Attributor
}

func loadCollector(name string, env exporter.Env, spec func() (*ebpf.CollectionSpec, error),
	objs interface{ Close() error }) (bpfCollector, error) {
	s, err := spec()
	if err != nil {
		return bpfCollector{}, fmt.Errorf("reading %s BPF spec: %w", name, err)
	}
	set, err := bpfload.Load(s, objs, env.Self)
	if err != nil {
		return bpfCollector{}, err
	}
	c := bpfCollector{name: name, set: set, self: env.Self}
	if env.Workload != nil {
		c.attr = series.NewAttributor(series.Options{Resolver: env.Workload, Self: env.Self})
	}
	return c, nil
}

// reportLost publishes the program's lost-event counters.
func (c *bpfCollector) reportLost() error {
	totals, err := maps.ReadLost(c.lost)
	if err != nil {
		return err
	}
	for i, total := range totals {
		c.self.SetEventsLost(c.name, maps.LostReasons[i], total)
	}
	return nil
}

// reportFill publishes how full an aggregation map is.
func (c *bpfCollector) reportFill(m *ebpf.Map, mapName string, entries int) {
	c.self.MapEntries(mapName, entries, int(m.MaxEntries()))
}

// reapCounters deletes the rows of workloads gone past their grace period.
func reapCounters(m *ebpf.Map, rows map[maps.CounterKey]uint64, gone []uint64) error {
	return maps.Delete(m, keysOf(rows, gone, func(k maps.CounterKey) uint64 { return k.ID }))
}

func reapHistograms(m *ebpf.Map, rows map[maps.HistKey]maps.HistValue, gone []uint64) error {
	return maps.Delete(m, keysOf(rows, gone, func(k maps.HistKey) uint64 { return k.ID }))
}

func keysOf[K comparable, V any](rows map[K]V, gone []uint64, id func(K) uint64) []K {
	if len(gone) == 0 {
		return nil
	}
	var keys []K
	for k := range rows {
		if slices.Contains(gone, id(k)) {
			keys = append(keys, k)
		}
	}
	return keys
}

// emitCounters adds a counter map's rows to a scrape through events.
func emitCounters(s *series.Scrape, rows map[maps.CounterKey]uint64, events map[uint32]counterEvent) error {
	var unknown []uint32
	for k, v := range rows {
		ev, ok := events[k.Event]
		if !ok {
			unknown = append(unknown, k.Event)
			continue
		}
		s.Counter(ev.desc, ev.metric, k.ID, v, ev.extra...)
	}
	if len(unknown) > 0 {
		return fmt.Errorf("unknown event ids %v in map", unknown)
	}
	return nil
}

// updateCounters serves a collector whose only map is a counter map m
// (named mapName) decoded through events: read, attribute, emit, report
// the map's fill and lost events, and reap gone workloads.
func (c *bpfCollector) updateCounters(ctx context.Context, ch chan<- prometheus.Metric, m *ebpf.Map, mapName string, events map[uint32]counterEvent) error {
	rows, err := maps.ReadCounters(m)
	if err != nil {
		return err
	}
	c.reportFill(m, mapName, len(rows))
	s := c.attr.Begin(ctx)
	err = emitCounters(s, rows, events)
	return errors.Join(err, s.Emit(ch, latencyOpts), c.reportLost(),
		reapCounters(m, rows, c.attr.Expired()))
}

// Close detaches the collector's programs and closes its objects.
func (c *bpfCollector) Close() error { return c.set.Close() }
