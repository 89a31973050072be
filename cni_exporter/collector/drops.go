package collector

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf/btf"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/cri"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/histogram"
	"github.com/bpfleet/bpfleet/internal/maps"
	"github.com/bpfleet/bpfleet/internal/series"
)

// dropsCollector counts drops in the kernel per (network namespace inode,
// reason) and, at each scrape, attributes each namespace to its pod through
// CRI. Pods' series go through a series.Attributor keyed by namespace
// inode, so that each pod is admitted to the series cap once per scrape,
// however many drop reasons it has; their rows are removed from the
// kernel's map once the runtime has not listed the pod for
// series.DefaultGrace. Drops in a namespace that is no pod's are the
// host's, one series per reason outside the cap; those of a gone namespace
// are folded into hostBase and removed from the kernel's map.
type dropsCollector struct {
	objs     dropsObjects
	set      *bpfload.Set
	loader   *bpfload.Loader
	env      exporter.Env
	paths    paths
	reasons  map[uint32]string
	pods     *podDirectory
	attr     *series.Attributor[uint64]
	hostBase map[uint32]uint64 // drops of gone host namespaces, by reason
}

// newDrops loads and attaches tp_btf/kfree_skb (kernel BTF needed) and
// reads the drop reasons' names from the kernel's BTF. Close detaches it;
// the CRI client is the cri component's.
func newDrops(ctx context.Context, env exporter.Env, p paths) (*dropsCollector, error) {
	loader, err := bpfload.FromEnv(ctx, env)
	if err != nil {
		return nil, err
	}
	client, err := cri.FromEnv(ctx, env)
	if err != nil {
		return nil, err
	}
	reasons, err := dropReasons()
	if err != nil {
		return nil, err
	}
	spec, err := loadDrops()
	if err != nil {
		return nil, err
	}
	pods := newPodDirectory(client, p.proc)
	c := &dropsCollector{loader: loader, env: env, paths: p, reasons: reasons, pods: pods, hostBase: map[uint32]uint64{},
		attr: series.New(series.Options[uint64]{Labeler: pods, Self: env.Self, MaxSeries: env.MaxSeries, IsOverflow: maps.IsOverflow})}
	if c.set, err = loader.Load(spec, &c.objs); err != nil {
		return nil, err
	}
	return c, nil
}

// dropReasons returns the names of enum skb_drop_reason in the kernel's
// BTF, without their SKB_DROP_REASON_ or SKB_ prefix, as the kernel's own
// drop_reasons table spells them (NO_SOCKET, NOT_SPECIFIED). A kernel
// without them cannot support the collector.
func dropReasons() (map[uint32]string, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("kernel BTF: %w: %w", errors.ErrUnsupported, err)
	}
	var enum *btf.Enum
	if err := spec.TypeByName("skb_drop_reason", &enum); err != nil {
		return nil, fmt.Errorf("enum skb_drop_reason in kernel BTF: %w: %w", errors.ErrUnsupported, err)
	}
	names := make(map[uint32]string, len(enum.Values))
	for _, v := range enum.Values {
		name := strings.TrimPrefix(v.Name, "SKB_DROP_REASON_")
		names[uint32(v.Value)] = strings.TrimPrefix(name, "SKB_")
	}
	return names, nil
}

// reason names a drop reason; values outside the enum (a subsystem's
// reasons) are "unknown".
func (c *dropsCollector) reason(v uint32) string {
	if name, ok := c.reasons[v]; ok {
		return name
	}
	return "unknown"
}

// Update serves the drops. When the runtime cannot be reached, drops are
// attributed with what it said before and the scrape fails.
func (c *dropsCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	criErr := c.pods.refresh(ctx)
	rows, entries, err := maps.ReadCountersFolded(c.objs.DropCounts, c.objs.DropCountsOverflow)
	if err != nil {
		return errors.Join(criErr, err)
	}
	c.loader.MapEntries("drop_counts", c.objs.DropCounts, entries)
	live, _, err := liveNetns(c.paths)
	if err != nil {
		return errors.Join(criErr, err)
	}
	s := c.attr.Begin(ctx)
	host, folded := c.attribute(s, rows, live)
	desc := c.attr.Desc(packetDrops)
	for reason, n := range host {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(n), "", "", reason)
	}
	if err := s.Emit(ch, histogram.Opts{}); err != nil {
		return errors.Join(criErr, err)
	}
	gone := c.attr.Expired()
	c.pods.forget(gone, netnsOf(rows))
	return errors.Join(criErr,
		maps.Delete(c.objs.DropCounts, folded),
		maps.Reap(c.objs.DropCounts, rows, gone, func(k maps.CounterKey) uint64 { return k.ID }),
		maps.ReportLost(c.env.Self, c.env.Name, c.objs.LostEvents))
}

// attribute adds the rows of pods' namespaces to s and returns the host's
// drops by reason name. It returns the rows of gone namespaces that no pod
// holds, which it has added to hostBase: the caller deletes them from the
// kernel's map.
func (c *dropsCollector) attribute(s *series.Scrape[uint64], rows map[maps.CounterKey]uint64, live map[uint64]struct{}) (map[string]uint64, []maps.CounterKey) {
	host := map[string]uint64{}
	for reason, n := range c.hostBase {
		host[c.reason(reason)] += n
	}
	var folded []maps.CounterKey
	for k, n := range rows {
		reason := c.reason(k.Event)
		// Drops the kernel could not key by namespace (drop_counts was
		// full) are the pods' overflow series: whose they were is unknown.
		if maps.IsOverflow(k.ID) || c.pods.pod(k.ID) {
			s.Counter(packetDrops, k.ID, n, reason)
			continue
		}
		if _, alive := live[k.ID]; !alive {
			c.hostBase[k.Event] += n
			folded = append(folded, k)
		}
		host[reason] += n
	}
	return host, folded
}

// netnsOf returns the namespaces that rows count drops in.
func netnsOf(rows map[maps.CounterKey]uint64) map[uint64]bool {
	out := make(map[uint64]bool, len(rows))
	for k := range rows {
		out[k.ID] = true
	}
	return out
}

// Close detaches the program.
func (c *dropsCollector) Close() error { return c.set.Close() }

// SizableMaps are the BPF maps --bpf.map-max-entries may size: drop_counts,
// which folds into the overflow series when full.
func SizableMaps() []string { return []string{dropsMapDropCounts} }
