package collector

import (
	"context"
	"errors"
	"os"
	"path"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/cri"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/histogram"
	"github.com/bpfleet/bpfleet/internal/maps"
	"github.com/bpfleet/bpfleet/internal/oomkill"
	"github.com/bpfleet/bpfleet/internal/series"
	"github.com/bpfleet/bpfleet/internal/workload"
)

// oomCountsMap is the counter map's name in <ns>_exporter_bpf_map_entries.
const oomCountsMap = "oom_counts"

// oomCollector counts OOM kills per victim cgroup in the kernel
// (tp_btf/mark_victim, shared with kernel_exporter) and attributes them to
// containers: cgroup id → cgroup path (the workload resolver, whose watcher
// remembers it from the cgroup's creation, so a container removed at once
// keeps it) → container id (Resolver.Container: ParsePath under the kubelet's cgroup root) → the pod namespace, pod
// name and container name that the runtime gives it (the resolver's, else
// cri.Client.Lookup), remembered per cgroup once known. Cgroups that are
// not Kubernetes containers are not counted.
//
// A series is one container name of a pod, summed over its instances
// (cgroups). It lives while one of them, or the pod's cgroup, does: a
// container restarted after an OOM kill keeps its count while its pod
// lives. Once every cgroup of the series and its pod's cgroup are gone for
// grace, the series goes and its rows are deleted from the kernel map.
type oomCollector struct {
	env      exporter.Env
	loader   *bpfload.Loader
	resolver *workload.Resolver
	pods     *cri.Client
	objs     oomkill.OOMObjects
	set      *bpfload.Set
	attr     *series.Attributor[uint64]

	named map[uint64]containerKey // names of counted cgroups, once known
	rows  map[uint64]oomRow       // this scrape's attribution: the Labeler's answers
}

// oomRow is a counted cgroup's series key and whether the series lives.
type oomRow struct {
	key   containerKey
	alive bool
}

// newOOM constructs the oom collector on the exporter's loader, workload
// resolver and CRI client.
func newOOM(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
	loader, err := bpfload.FromEnv(ctx, env)
	if err != nil {
		return nil, err
	}
	resolver, err := workload.FromEnv(ctx, env)
	if err != nil {
		return nil, err
	}
	pods, err := cri.FromEnv(ctx, env)
	if err != nil {
		return nil, err
	}
	spec, err := oomkill.LoadOOM()
	if err != nil {
		return nil, err
	}
	c := &oomCollector{env: env, loader: loader, resolver: resolver, pods: pods, named: map[uint64]containerKey{}}
	if c.set, err = loader.Load(spec, &c.objs); err != nil {
		return nil, err
	}
	c.attr = series.New(series.Options[uint64]{Labeler: c, Self: env.Self, MaxSeries: env.MaxSeries, Grace: grace, IsOverflow: maps.IsOverflow})
	return c, nil
}

// LabelNames implements series.Labeler: the series key is a container.
func (c *oomCollector) LabelNames() []string { return containerLabels }

// Labels implements series.Labeler with this scrape's attribution.
func (c *oomCollector) Labels(_ context.Context, id uint64) ([]string, bool) {
	r := c.rows[id]
	return r.key.values(), r.alive
}

func (c *oomCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	rows, entries, err := maps.ReadCountersFolded(c.objs.OomCounts, c.objs.OomCountsOverflow)
	if err != nil {
		return err
	}
	c.loader.MapEntries(oomCountsMap, c.objs.OomCounts, entries)
	dead := c.attribute(ctx, rows)
	s := c.attr.Begin(ctx)
	for k, n := range rows {
		// Kills the kernel could not key by cgroup (oom_counts was full)
		// are the overflow series: whose they were is unknown.
		if _, ok := c.rows[k.ID]; ok || maps.IsOverflow(k.ID) {
			s.Counter(oomKills, k.ID, n)
		}
	}
	err = s.Emit(ch, histogram.Opts{})
	gone := c.attr.Expired()
	for _, id := range gone {
		delete(c.named, id)
	}
	return errors.Join(err,
		maps.Reap(c.objs.OomCounts, rows, gone, func(k maps.CounterKey) uint64 { return k.ID }),
		maps.Delete(c.objs.OomCounts, dead),
		maps.ReportLost(c.env.Self, c.env.Name, c.objs.LostEvents))
}

// attribute sets c.rows to the Kubernetes containers of rows, each with
// its series key and whether the series lives, and returns the rows of
// cgroups that are gone and will never be counted (not Kubernetes
// containers, or of no known path).
func (c *oomCollector) attribute(ctx context.Context, rows map[maps.CounterKey]uint64) (dead []maps.CounterKey) {
	c.rows = make(map[uint64]oomRow, len(rows))
	live := map[containerKey]bool{}
	for k := range rows {
		if maps.IsOverflow(k.ID) {
			continue
		}
		labels, alive := c.resolver.Lookup(ctx, k.ID)
		ctr, ok := c.resolver.Container(labels.Cgroup)
		if !ok || ctr.PodUID == "" {
			if !alive {
				dead = append(dead, k)
			}
			continue
		}
		key := c.name(ctx, k.ID, labels, ctr.ID)
		c.rows[k.ID] = oomRow{key: key}
		if alive || c.podAlive(labels.Cgroup) {
			live[key] = true
		}
	}
	for id, r := range c.rows {
		r.alive = live[r.key]
		c.rows[id] = r
	}
	return dead
}

// name returns the series key of the container of cgroup id: the names the
// resolver gave it, else those the runtime gives container ctrID now, else
// empty ones (the runtime never named it). Names, once known, stay.
func (c *oomCollector) name(ctx context.Context, id uint64, labels workload.Labels, ctrID string) containerKey {
	if k, ok := c.named[id]; ok {
		return k
	}
	k := containerKey{Namespace: labels.Namespace, Pod: labels.Pod, Container: labels.Container}
	if k.Pod == "" {
		if ref, ok := c.pods.Lookup(ctx, ctrID); ok {
			k = containerKey(ref)
		}
	}
	if k.Pod != "" {
		c.named[id] = k
	}
	return k
}

// podAlive reports whether the pod cgroup of the container cgroup at path
// (relative to the cgroup v2 root) still exists.
func (c *oomCollector) podAlive(cgroup string) bool {
	_, err := os.Stat(filepath.Join(c.resolver.CgroupRoot(), path.Dir(cgroup)))
	return err == nil
}

// Close detaches the program and closes its maps.
func (c *oomCollector) Close() error {
	return c.set.Close()
}

// SizableMaps are the BPF maps --bpf.map-max-entries may size: oom_counts,
// which folds into the overflow series when full.
func SizableMaps() []string { return []string{oomCountsMap} }
