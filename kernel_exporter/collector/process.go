package collector

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/exporter"
)

// processEvents names enum process_event (bpf/kernel/process.bpf.c).
var processEvents = map[processProcessEvent]counterEvent{
	processProcessEventEV_PROCESS_EXEC:         {processExecs, nil},
	processProcessEventEV_PROCESS_FORK:         {processForks, nil},
	processProcessEventEV_PROCESS_EXIT_SUCCESS: {processExits, []string{"success"}},
	processProcessEventEV_PROCESS_EXIT_FAILURE: {processExits, []string{"failure"}},
	processProcessEventEV_PROCESS_EXIT_SIGNAL:  {processExits, []string{"signal"}},
}

// processCollector counts execs, forks and whole-process exits per workload
// (bpf/kernel/process.bpf.c).
type processCollector struct {
	bpfCollector
	objs processObjects
}

func newProcess(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
	c := &processCollector{}
	var err error
	c.bpfCollector, err = loadWorkloadCollector(ctx, env, loadProcess, &c.objs)
	if err != nil {
		return nil, err
	}
	c.lost = c.objs.LostEvents
	return c, nil
}

func (c *processCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	return updateCounters(ctx, &c.bpfCollector, ch, c.objs.ProcessCounts, processMapProcessCounts, processEvents)
}
