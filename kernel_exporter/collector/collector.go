// Package collector holds kernel_exporter's collectors: one file per
// collector, each loading its own BPF objects (bpf/kernel/<name>.bpf.c),
// whose generated bindings sit beside it, and metrics.go, the table of
// every metric they serve.
package collector

import (
	"context"
	"errors"
	"fmt"

	"github.com/cilium/ebpf"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/catalog"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/histogram"
	"github.com/bpfleet/bpfleet/internal/maps"
	"github.com/bpfleet/bpfleet/internal/oomkill"
	"github.com/bpfleet/bpfleet/internal/procexit"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
	"github.com/bpfleet/bpfleet/internal/series"
	"github.com/bpfleet/bpfleet/internal/workload"
)

const namespace = "kernel"

// Specs returns every kernel_exporter collector, all on by default. The
// per-workload ones cap each metric's series (--collector.<name>.max-series).
func Specs() []exporter.Spec {
	return []exporter.Spec{
		{Name: "block", Help: "block I/O latency per device and operation", Default: true, Constructor: newBlock},
		{Name: "oom", Help: "OOM kills per victim workload", Default: true, Constructor: newOOM, MaxSeries: series.DefaultMaxSeries},
		{Name: "process", Help: "process execs, forks and exits per workload", Default: true, Constructor: newProcess, MaxSeries: series.DefaultMaxSeries},
		{Name: "sched", Help: "run-queue latency per workload", Default: true, Constructor: newSched, MaxSeries: series.DefaultMaxSeries},
		{Name: "tcp", Help: "TCP connections, failures, latency, retransmits and resets per workload", Default: true, Constructor: newTCP, MaxSeries: series.DefaultMaxSeries},
	}
}

// counterEvent is what one counter_key.event value of a program counts: a
// metric and the values of its labels after the workload's.
type counterEvent struct {
	metric *catalog.Metric
	extra  []string
}

// latencyOpts are the histogram options of the latency metrics: the kernel
// measures nanoseconds; classic buckets from about 1µs (2^-20 s) to 8 s.
var latencyOpts = histogram.Opts{
	Schema:  histogram.KernelSchema,
	Scale:   1e-9,
	Classic: histogram.ClassicPowersOfTwo(-20, 3),
}

// bpfCollector is what every collector of this exporter shares: its loaded
// programs, lost-event counters and, for per-workload ones, attribution
// state.
type bpfCollector struct {
	name   string
	loader *bpfload.Loader
	set    *bpfload.Set
	self   *selfmetrics.Metrics
	lost   *ebpf.Map
	attr   *series.Attributor[uint64] // nil for block
}

// loadCollector loads the objects of spec into objs; the caller then sets
// lost to their lost_events map.
func loadCollector(ctx context.Context, env exporter.Env, spec func() (*ebpf.CollectionSpec, error),
	objs interface{ Close() error }) (bpfCollector, error) {
	loader, err := bpfload.FromEnv(ctx, env)
	if err != nil {
		return bpfCollector{}, err
	}
	s, err := spec()
	if err != nil {
		return bpfCollector{}, fmt.Errorf("reading %s BPF spec: %w", env.Name, err)
	}
	set, err := loader.Load(s, objs)
	if err != nil {
		return bpfCollector{}, err
	}
	return bpfCollector{name: env.Name, loader: loader, set: set, self: env.Self}, nil
}

// loadWorkloadCollector is loadCollector for a collector whose series are
// keyed by cgroup id and labelled by the workload resolver.
func loadWorkloadCollector(ctx context.Context, env exporter.Env, spec func() (*ebpf.CollectionSpec, error),
	objs interface{ Close() error }) (bpfCollector, error) {
	resolver, err := workload.FromEnv(ctx, env)
	if err != nil {
		return bpfCollector{}, err
	}
	c, err := loadCollector(ctx, env, spec, objs)
	if err != nil {
		return c, err
	}
	c.attr = series.New(series.Options[uint64]{Labeler: resolver, Self: env.Self, MaxSeries: env.MaxSeries, IsOverflow: maps.IsOverflow})
	return c, nil
}

// reportLost publishes the program's lost-event counters.
func (c *bpfCollector) reportLost() error { return maps.ReportLost(c.self, c.name, c.lost) }

func counterID(k maps.CounterKey) uint64 { return k.ID }

// rowID is the workload id of a row of a map of one row per workload: its key.
func rowID(id uint64) uint64 { return id }

func histID(k maps.HistKey) uint64 { return k.ID }

// emitCounters adds a counter map's rows to a scrape, naming each row's
// event through events (keyed by a generated enum type).
func emitCounters[E ~uint32](s *series.Scrape[uint64], rows map[maps.CounterKey]uint64, events map[E]counterEvent) error {
	var unknown []uint32
	for k, v := range rows {
		ev, ok := events[E(k.Event)]
		if !ok {
			unknown = append(unknown, k.Event)
			continue
		}
		s.Counter(ev.metric, k.ID, v, ev.extra...)
	}
	if len(unknown) > 0 {
		return fmt.Errorf("unknown event ids %v in map", unknown)
	}
	return nil
}

// updateCounters serves a collector whose only map is a counter map m
// (named mapName, with its overflow companion) decoded through events:
// read, attribute, emit, report the map's fill and lost events, and reap
// gone workloads.
func updateCounters[E ~uint32](ctx context.Context, c *bpfCollector, ch chan<- prometheus.Metric, m, overflow *ebpf.Map, mapName string, events map[E]counterEvent) error {
	rows, entries, err := maps.ReadCountersFolded(m, overflow)
	if err != nil {
		return err
	}
	c.loader.MapEntries(mapName, m, entries)
	s := c.attr.Begin(ctx)
	err = emitCounters(s, rows, events)
	return errors.Join(err, s.Emit(ch, latencyOpts), c.reportLost(),
		maps.Reap(m, rows, c.attr.Expired(), counterID))
}

// Close detaches the collector's programs and closes its objects.
func (c *bpfCollector) Close() error { return c.set.Close() }

// SizableMaps are the BPF maps --bpf.map-max-entries may size: the
// per-workload aggregation maps (they fold into the overflow series when
// full), block_latency (by device) and the start-time tables of tcp and
// block (a full one loses latency samples, counted as start_full).
func SizableMaps() []string {
	return []string{procexit.ProcessMapProcessCounts, oomkill.OOMMapOomCounts, tcpMapTcpCounts,
		tcpMapTcpConnectLatency, tcpMapTcpConnecting, schedMapRunqueueLatency, blockMapBlockLatency, blockMapBlockIssued}
}
