package collector

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/maps"
	"github.com/bpfleet/bpfleet/internal/procexit"
)

// processEvents names enum process_event (bpf/process/process.bpf.c, internal/procexit).
var processEvents = map[procexit.ProcessProcessEvent]counterEvent{
	procexit.ProcessProcessEventEV_PROCESS_EXEC:         {processExecs, nil},
	procexit.ProcessProcessEventEV_PROCESS_FORK:         {processForks, nil},
	procexit.ProcessProcessEventEV_PROCESS_EXIT_SUCCESS: {processExits, []string{"success"}},
	procexit.ProcessProcessEventEV_PROCESS_EXIT_FAILURE: {processExits, []string{"failure"}},
	procexit.ProcessProcessEventEV_PROCESS_EXIT_SIGNAL:  {processExits, []string{"signal"}},
}

// processCollector counts execs, forks and whole-process exits per workload
// (bpf/process/process.bpf.c, internal/procexit).
type processCollector struct {
	bpfCollector
	objs procexit.ProcessObjects
}

func newProcess(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
	c := &processCollector{}
	var err error
	c.bpfCollector, err = loadWorkloadCollector(ctx, env, procexit.LoadProcess, &c.objs)
	if err != nil {
		return nil, err
	}
	c.lost = c.objs.LostEvents
	return c, nil
}

// Update serves the counters of process_counts, which keeps one row per
// workload holding all its counters (procexit.ReadFolded), and its overflow
// companion.
func (c *processCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	rows, counts, err := procexit.ReadFolded(&c.objs)
	if err != nil {
		return err
	}
	c.loader.MapEntries(procexit.ProcessMapProcessCounts, c.objs.ProcessCounts, len(counts))
	s := c.attr.Begin(ctx)
	err = emitCounters(s, rows, processEvents)
	return errors.Join(err, s.Emit(ch, latencyOpts), c.reportLost(),
		maps.Reap(c.objs.ProcessCounts, counts, c.attr.Expired(), rowID))
}
