package collector

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/oomkill"
)

// oomEvents names the counter events of internal/oomkill's program.
var oomEvents = map[uint32]counterEvent{oomkill.EventKill: {oomKills, nil}}

// oomCollector counts OOM kills per victim workload with the shared
// program of internal/oomkill (bpf/oomkill/oom.bpf.c).
type oomCollector struct {
	bpfCollector
	objs oomkill.OOMObjects
}

func newOOM(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
	c := &oomCollector{}
	var err error
	c.bpfCollector, err = loadWorkloadCollector(ctx, env, oomkill.LoadOOM, &c.objs)
	if err != nil {
		return nil, err
	}
	c.lost = c.objs.LostEvents
	return c, nil
}

func (c *oomCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	return updateCounters(ctx, &c.bpfCollector, ch, c.objs.OomCounts, c.objs.OomCountsOverflow, oomkill.OOMMapOomCounts, oomEvents)
}
