package collector

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/oomkill"
)

var oomKillsDesc = workloadDesc("oom_kills_total", "Processes of the workload chosen as victims by the OOM killer (global or cgroup).")

// oomCollector counts OOM kills per victim workload with the shared
// program of internal/oomkill (bpf/oomkill/oom.bpf.c).
type oomCollector struct {
	bpfCollector
	objs   oomkill.OOMObjects
	events map[uint32]counterEvent
}

func newOOM(_ context.Context, env exporter.Env) (exporter.Collector, error) {
	c := &oomCollector{}
	c.events = map[uint32]counterEvent{oomkill.EventKill: {oomKillsDesc, "kernel_oom_kills_total", nil}}
	var err error
	c.bpfCollector, err = loadCollector("oom", env, oomkill.LoadOOM, &c.objs)
	if err != nil {
		return nil, err
	}
	c.lost = c.objs.LostEvents
	return c, nil
}

func (c *oomCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	return c.updateCounters(ctx, ch, c.objs.OomCounts, "oom_counts", c.events)
}
