package collector

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/maps"
)

var schedRunqueueLatencyDesc = workloadDesc("runqueue_latency_seconds", "Time tasks of the workload waited runnable on a run queue before running (wakeup or preemption to on-CPU).")

// schedCollector measures run-queue latency per workload
// (bpf/kernel/sched.bpf.c).
type schedCollector struct {
	bpfCollector
	objs    schedObjects
	latency *prometheus.Desc
}

func newSched(_ context.Context, env exporter.Env) (exporter.Collector, error) {
	c := &schedCollector{latency: schedRunqueueLatencyDesc}
	var err error
	c.bpfCollector, err = loadCollector("sched", env, loadSched, &c.objs)
	if err != nil {
		return nil, err
	}
	c.lost = c.objs.LostEvents
	return c, nil
}

func (c *schedCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	rows, err := maps.ReadHistograms(c.objs.RunqueueLatency)
	if err != nil {
		return err
	}
	c.reportFill(c.objs.RunqueueLatency, "runqueue_latency", len(rows))
	s := c.attr.Begin(ctx)
	for k, v := range rows {
		s.Histogram(c.latency, "kernel_runqueue_latency_seconds", k.ID, k.Bucket, v.Count, v.Sum)
	}
	return errors.Join(s.Emit(ch, latencyOpts), c.reportLost(),
		reapHistograms(c.objs.RunqueueLatency, rows, c.attr.Expired()))
}
