package collector

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/maps"
)

// schedCollector measures run-queue latency per workload
// (bpf/kernel/sched.bpf.c): from the scheduler's own per-task statistics
// at sched_switch alone where the kernel keeps them (schedQueuedObjects),
// from wakeup times in task storage otherwise (schedWakeupObjects).
type schedCollector struct {
	bpfCollector
	maps *schedMaps
}

// schedQueuedObjects are the objects of sched.bpf.c's sched_info design.
type schedQueuedObjects struct {
	schedMaps
	Switch *ebpf.Program `ebpf:"sched_switch_queued"`
}

func (o *schedQueuedObjects) Close() error {
	return errors.Join(o.Switch.Close(), o.schedMaps.Close())
}

// schedWakeupObjects are the objects of sched.bpf.c's wakeup design.
type schedWakeupObjects struct {
	schedMaps
	Switch    *ebpf.Program `ebpf:"sched_switch"`
	Wakeup    *ebpf.Program `ebpf:"sched_wakeup"`
	WakeupNew *ebpf.Program `ebpf:"sched_wakeup_new"`
}

func (o *schedWakeupObjects) Close() error {
	return errors.Join(o.Switch.Close(), o.Wakeup.Close(), o.WakeupNew.Close(), o.schedMaps.Close())
}

// schedInfoLive reports whether the running kernel keeps the per-task
// run-queue statistics sched_switch_queued reads: its BTF has the fields
// (CONFIG_SCHED_INFO, CONFIG_FAIR_GROUP_SCHED), and this thread's
// statistics count its runs (kernels before 5.14 without schedstats keep
// them only while delay accounting is on). A variable, so that a test can
// force the wakeup design.
var schedInfoLive = func() bool {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return false
	}
	for _, m := range []struct{ typ, member string }{
		{"sched_info", "last_queued"}, {"sched_entity", "cfs_rq"}, {"cfs_rq", "rq"}, {"rq", "clock"},
	} {
		if !hasMember(spec, m.typ, m.member) {
			return false
		}
	}
	// time on CPU, time waiting on a run queue, times run
	data, err := os.ReadFile("/proc/thread-self/schedstat")
	if err != nil {
		return false
	}
	var onCPU, wait, runs uint64
	if _, err := fmt.Sscan(string(data), &onCPU, &wait, &runs); err != nil {
		return false
	}
	return runs > 0
}

func newSched(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
	c := &schedCollector{}
	var (
		objs interface{ Close() error }
		keep []string
	)
	if schedInfoLive() {
		o := &schedQueuedObjects{}
		objs, c.maps, keep = o, &o.schedMaps, []string{schedProgSchedSwitchQueued}
	} else {
		o := &schedWakeupObjects{}
		objs, c.maps, keep = o, &o.schedMaps, []string{schedProgSchedSwitch, schedProgSchedWakeup, schedProgSchedWakeupNew}
	}
	spec := func() (*ebpf.CollectionSpec, error) {
		s, err := loadSched()
		if err != nil {
			return nil, err
		}
		keepPrograms(s, keep)
		return s, nil
	}
	var err error
	c.bpfCollector, err = loadWorkloadCollector(ctx, env, spec, objs)
	if err != nil {
		return nil, err
	}
	c.lost = c.maps.LostEvents
	return c, nil
}

func (c *schedCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	rows, entries, err := maps.ReadHistogramsFolded(c.maps.RunqueueLatency, c.maps.RunqueueLatencyOverflow)
	if err != nil {
		return err
	}
	c.loader.MapEntries(schedMapRunqueueLatency, c.maps.RunqueueLatency, entries)
	s := c.attr.Begin(ctx)
	for k, v := range rows {
		s.Histogram(runqueueLatency, k.ID, k.Bucket, v.Count, v.Sum)
	}
	return errors.Join(s.Emit(ch, latencyOpts), c.reportLost(),
		maps.Reap(c.maps.RunqueueLatency, rows, c.attr.Expired(), histID))
}
