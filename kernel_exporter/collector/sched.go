package collector

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/maps"
)

// schedCollector measures run-queue latency per workload
// (bpf/kernel/sched.bpf.c).
type schedCollector struct {
	bpfCollector
	objs schedObjects
}

func newSched(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
	c := &schedCollector{}
	var err error
	c.bpfCollector, err = loadWorkloadCollector(ctx, env, loadSched, &c.objs)
	if err != nil {
		return nil, err
	}
	c.lost = c.objs.LostEvents
	return c, nil
}

func (c *schedCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	rows, entries, err := maps.ReadHistogramsFolded(c.objs.RunqueueLatency, c.objs.RunqueueLatencyOverflow)
	if err != nil {
		return err
	}
	c.loader.MapEntries(schedMapRunqueueLatency, c.objs.RunqueueLatency, entries)
	s := c.attr.Begin(ctx)
	for k, v := range rows {
		s.Histogram(runqueueLatency, k.ID, k.Bucket, v.Count, v.Sum)
	}
	return errors.Join(s.Emit(ch, latencyOpts), c.reportLost(),
		maps.Reap(c.objs.RunqueueLatency, rows, c.attr.Expired(), histID))
}
