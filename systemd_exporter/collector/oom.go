package collector

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/catalog"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/limits"
	"github.com/bpfleet/bpfleet/internal/maps"
	"github.com/bpfleet/bpfleet/internal/oomkill"
	"github.com/bpfleet/bpfleet/internal/procexit"
	"github.com/bpfleet/bpfleet/internal/workload"
)

var oomSpec = exporter.Spec{
	Name: "oom", Help: "OOM kills per unit, from the kernel (tp_btf/mark_victim).", Default: true,
	MaxSeries: 10000, Constructor: newOOM,
}

var processSpec = exporter.Spec{
	Name: "process", Help: "Process exits per unit by outcome, from the kernel (tp_btf/sched_process_exit).", Default: true,
	MaxSeries: 10000, Constructor: newProcess,
}

// kernelCollector counts events in the kernel per cgroup v2 id (a program
// shared with kernel_exporter or cri_exporter) and attributes them to units
// by the cgroup's path (unitAttributor). It needs no D-Bus: it serves on
// while the bus is lost.
type kernelCollector struct {
	env      exporter.Env
	loader   *bpfload.Loader
	set      *bpfload.Set
	attr     *unitAttributor
	limit    *limits.Limiter
	metric   *catalog.Metric
	counts   func() (rows map[maps.CounterKey]uint64, mapName string, err error)
	label    func(event uint32) (string, bool)
	deleteFn func(keys []maps.CounterKey) error
	lostFn   func() error
	closer   func() error
}

func newKernelCollector(ctx context.Context, env exporter.Env, metric *catalog.Metric) (*kernelCollector, error) {
	resolver, err := workload.FromEnv(ctx, env)
	if err != nil {
		return nil, err
	}
	loader, err := bpfload.FromEnv(ctx, env)
	if err != nil {
		return nil, err
	}
	lookup := func(id uint64) (string, bool) {
		l, alive := resolver.Lookup(context.Background(), id)
		return l.Cgroup, alive
	}
	return &kernelCollector{env: env, loader: loader, attr: newUnitAttributor(lookup), metric: metric,
		limit: limits.New(metric.Name, env.MaxSeries, env.Self)}, nil
}

// newOOM counts OOM kills (internal/oomkill, the program kernel_exporter
// and cri_exporter share).
func newOOM(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
	c, err := newKernelCollector(ctx, env, unitOOMKills)
	if err != nil {
		return nil, err
	}
	spec, err := oomkill.LoadOOM()
	if err != nil {
		return nil, err
	}
	var objs oomkill.OOMObjects
	if c.set, err = c.loader.Load(spec, &objs); err != nil {
		return nil, err
	}
	c.counts = func() (map[maps.CounterKey]uint64, string, error) {
		rows, entries, err := maps.ReadCountersFolded(objs.OomCounts, objs.OomCountsOverflow)
		if err == nil {
			c.loader.MapEntries(oomkill.OOMMapOomCounts, objs.OomCounts, entries)
		}
		return rows, oomkill.OOMMapOomCounts, err
	}
	c.label = func(event uint32) (string, bool) { return "", event == oomkill.EventKill }
	c.deleteFn = func(keys []maps.CounterKey) error { return maps.Delete(objs.OomCounts, keys) }
	c.lostFn = func() error { return maps.ReportLost(env.Self, env.Name, objs.LostEvents) }
	return c, nil
}

// SizableMaps names the BPF maps that --bpf.map-max-entries may size: the
// kernel collectors' per-cgroup counter maps, whose events fold into the
// overflow series once they are full.
func SizableMaps() []string {
	return []string{procexit.ProcessMapProcessCounts, oomkill.OOMMapOomCounts}
}

// exitOutcomes names the exit events of internal/procexit's program.
var exitOutcomes = map[procexit.ProcessProcessEvent]string{
	procexit.ProcessProcessEventEV_PROCESS_EXIT_SUCCESS: "success",
	procexit.ProcessProcessEventEV_PROCESS_EXIT_FAILURE: "failure",
	procexit.ProcessProcessEventEV_PROCESS_EXIT_SIGNAL:  "signal",
}

// newProcess counts whole-process exits by outcome (internal/procexit, the
// program kernel_exporter's process collector uses).
func newProcess(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
	c, err := newKernelCollector(ctx, env, unitProcessExits)
	if err != nil {
		return nil, err
	}
	spec, err := procexit.LoadProcess()
	if err != nil {
		return nil, err
	}
	var objs procexit.ProcessObjects
	if c.set, err = c.loader.Load(spec, &objs); err != nil {
		return nil, err
	}
	c.counts = func() (map[maps.CounterKey]uint64, string, error) {
		rows, counts, err := procexit.ReadFolded(&objs)
		if err != nil {
			return nil, procexit.ProcessMapProcessCounts, err
		}
		c.loader.MapEntries(procexit.ProcessMapProcessCounts, objs.ProcessCounts, len(counts))
		return rows, procexit.ProcessMapProcessCounts, nil
	}
	c.label = func(event uint32) (string, bool) {
		o, ok := exitOutcomes[procexit.ProcessProcessEvent(event)]
		return o, ok
	}
	c.deleteFn = func(keys []maps.CounterKey) error { return procexit.DeleteWorkloads(objs.ProcessCounts, keys) }
	c.lostFn = func() error { return maps.ReportLost(env.Self, env.Name, objs.LostEvents) }
	return c, nil
}

// Update serves the kernel's counts per unit, each unit under its own name
// while the series cap admits it, else in the overflow series. The events
// the kernel folded because its map was full (rows of the map's overflow
// companion, under maps.OverflowID) are served in the overflow series too:
// they are no unit's.
func (c *kernelCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	rows, _, err := c.counts()
	if err != nil {
		return err
	}
	counts, del, gone := c.attr.attribute(rows, c.label)
	for _, unit := range gone {
		c.limit.Forget(unit)
	}
	overflow := limits.OverflowValues(1)[0]
	out := map[[2]string]float64{}
	for k, n := range rows {
		if !maps.IsOverflow(k.ID) {
			continue
		}
		if l, ok := c.label(k.Event); ok {
			out[[2]string{overflow, l}] += float64(n)
		}
	}
	admitted := map[string]bool{} // one cap decision per unit per scrape, however many outcomes it has
	for k, n := range counts {
		ok, seen := admitted[k[0]]
		if !seen {
			ok = c.limit.Admit(k[0])
			admitted[k[0]] = ok
		}
		if !ok {
			k[0] = overflow
		}
		out[k] += n
	}
	for k, n := range out {
		labels := []string{k[0]}
		if len(c.metric.Labels) > 0 {
			labels = append(labels, k[1])
		}
		ch <- prometheus.MustNewConstMetric(desc(c.metric), prometheus.CounterValue, n, labels...)
	}
	return errors.Join(c.deleteFn(del), c.lostFn())
}

// learnInterval is how often the cgroups of new kernel rows are resolved
// between scrapes.
const learnInterval = time.Second

// Run resolves the cgroups of new rows every learnInterval, so that a unit
// removed within a scrape interval (a short oneshot) is named while the
// resolver still remembers its cgroup (it learns every cgroup when it is
// made, however short its life).
func (c *kernelCollector) Run(ctx context.Context) error {
	t := time.NewTicker(learnInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if rows, _, err := c.counts(); err == nil {
				c.attr.learn(rows)
			}
		}
	}
}

// Close detaches the programs and closes their maps.
func (c *kernelCollector) Close() error { return c.set.Close() }
