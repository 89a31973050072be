package collector

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/exporter"
)

var (
	processExecsDesc = workloadDesc("process_execs_total", "Successful execve calls by tasks of the workload.")
	processForksDesc = workloadDesc("process_forks_total", "New processes (fork or clone without CLONE_THREAD) created by tasks of the workload.")
	processExitsDesc = workloadDesc("process_exits_total", "Whole-process exits of the workload, by outcome: success (exit code 0), failure (non-zero exit code) or signal (killed by a signal).", "outcome")
)

// processCollector counts execs, forks and whole-process exits per workload
// (bpf/kernel/process.bpf.c).
type processCollector struct {
	bpfCollector
	objs   processObjects
	events map[uint32]counterEvent
}

func newProcess(_ context.Context, env exporter.Env) (exporter.Collector, error) {
	c := &processCollector{}
	execs, forks, exits := processExecsDesc, processForksDesc, processExitsDesc
	c.events = map[uint32]counterEvent{
		0: {execs, "kernel_process_execs_total", nil},
		1: {forks, "kernel_process_forks_total", nil},
		2: {exits, "kernel_process_exits_total", []string{"success"}},
		3: {exits, "kernel_process_exits_total", []string{"failure"}},
		4: {exits, "kernel_process_exits_total", []string{"signal"}},
	}
	var err error
	c.bpfCollector, err = loadCollector("process", env, loadProcess, &c.objs)
	if err != nil {
		return nil, err
	}
	c.lost = c.objs.LostEvents
	return c, nil
}

func (c *processCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	return c.updateCounters(ctx, ch, c.objs.ProcessCounts, "process_counts", c.events)
}
