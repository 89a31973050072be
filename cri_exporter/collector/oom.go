package collector

import (
	"context"
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/maps"
	"github.com/bpfleet/bpfleet/internal/oomkill"
	"github.com/bpfleet/bpfleet/internal/workload"
)

var oomKillsDesc = newDesc("container_oom_kills_total",
	"Processes of the container chosen as victims by the OOM killer, seen in the kernel: also the children of a container that keeps running. Empty labels for a Kubernetes container the runtime never listed.",
	containerLabels...)

// oomCollector counts OOM kills per victim cgroup in the kernel and
// attributes them to containers: cgroup id → cgroup path (remembered when
// the cgroup was made, so a container removed at once keeps it) →
// container id (workload.ParsePath) → the key the cri collector listed it
// under. Cgroups that are not Kubernetes containers are not counted.
type oomCollector struct {
	objs     oomkill.OOMObjects
	set      *bpfload.Set
	env      exporter.Env
	resolver *workload.Resolver
	dir      *directory
	stop     context.CancelFunc
	done     sync.WaitGroup
}

// newOOM returns the oom collector's constructor, which attributes kills
// through dir. It loads tp_btf/mark_victim (kernel BTF needed) and watches
// cgroup creation (tp_btf/cgroup_mkdir) in the background.
func newOOM(dir *directory) exporter.New {
	return func(_ context.Context, env exporter.Env) (exporter.Collector, error) {
		spec, err := oomkill.LoadOOM()
		if err != nil {
			return nil, err
		}
		c := &oomCollector{env: env, dir: dir}
		if c.set, err = bpfload.Load(spec, &c.objs, env.Self); err != nil {
			return nil, err
		}
		if c.resolver, err = workload.NewResolver(workload.Options{Logger: env.Logger}); err != nil {
			return nil, errors.Join(err, c.set.Close())
		}
		ctx, stop := context.WithCancel(context.Background())
		c.stop = stop
		c.done.Go(func() { c.watch(ctx) })
		return c, nil
	}
}

// watch remembers new cgroups until ctx is done. Without it (no kernel BTF
// for cgroup_mkdir), only containers alive at the scrape are attributed.
func (c *oomCollector) watch(ctx context.Context) {
	if err := c.resolver.Watch(ctx, c.env.Self); err != nil {
		c.env.Logger.Warn("Cannot watch new cgroups; OOM kills of containers removed before a scrape lose their labels", "err", err)
	}
}

func (c *oomCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	rows, err := maps.ReadCounters(c.objs.OomCounts)
	if err != nil {
		return err
	}
	c.env.Self.MapEntries("oom_counts", len(rows), int(c.objs.OomCounts.MaxEntries()))
	kills := map[containerKey]uint64{}
	var gone []maps.CounterKey
	for k, n := range rows {
		labels, alive := c.resolver.Lookup(ctx, k.ID)
		ctr, ok := workload.ParsePath(labels.Cgroup)
		if !ok || ctr.PodUID == "" {
			continue
		}
		key, _ := c.dir.key(ctr.ID)
		if !alive && key != (containerKey{}) && !c.dir.known(key) {
			gone = append(gone, k)
			continue
		}
		kills[key] += n
	}
	for k, n := range kills {
		ch <- prometheus.MustNewConstMetric(oomKillsDesc, prometheus.CounterValue, float64(n), k.values()...)
	}
	return errors.Join(c.reportLost(), maps.Delete(c.objs.OomCounts, gone))
}

func (c *oomCollector) reportLost() error {
	totals, err := maps.ReadLost(c.objs.LostEvents)
	if err != nil {
		return err
	}
	for i, total := range totals {
		c.env.Self.SetEventsLost("oom", maps.LostReasons[i], total)
	}
	return nil
}

// Close stops watching cgroups and detaches the program.
func (c *oomCollector) Close() error {
	c.stop()
	c.done.Wait()
	return errors.Join(c.resolver.Close(), c.set.Close())
}
