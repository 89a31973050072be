package collector

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf/btf"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/limits"
	"github.com/bpfleet/bpfleet/internal/maps"
)

var dropsDesc = newDesc("packet_drops_total",
	"Packets the kernel dropped (skb:kfree_skb), by the kernel's drop reason and the pod whose network namespace dropped them; namespace and pod are empty for namespaces that are no known pod's (the host's), pod is \"__overflow__\" for pods over --collector.drops.max-pods.",
	"namespace", "pod", "reason")

// dropsCollectorName labels the collector's self-metrics.
const dropsCollectorName = "drops"

// dropsConfig is the drops collector's flags.
type dropsConfig struct {
	Endpoint string
	Timeout  time.Duration
	MaxPods  int
}

// dropSeries is one series of cni_packet_drops_total.
type dropSeries struct {
	namespace, pod, reason string
}

// dropsCollector counts drops in the kernel per (network namespace inode,
// reason) and, at each scrape, attributes each namespace to its pod through
// CRI. Drops in a namespace that is no pod's and is gone are folded into
// the host's series and removed from the kernel's map; those of a pod are
// removed once its sandbox has not been listed for grace.
type dropsCollector struct {
	objs    dropsObjects
	set     *bpfload.Set
	env     exporter.Env
	paths   paths
	reasons map[uint32]string
	pods    *podDirectory
	limiter *limits.Limiter

	mu       sync.Mutex        // Update against Close
	hostBase map[uint32]uint64 // drops of gone host namespaces, by reason
}

// newDrops loads and attaches tp_btf/kfree_skb (kernel BTF needed) and
// reads the drop reasons' names from the kernel's BTF. Close detaches it
// and closes the CRI connection.
func newDrops(env exporter.Env, cfg dropsConfig, p paths) (*dropsCollector, error) {
	reasons, err := dropReasons()
	if err != nil {
		return nil, err
	}
	spec, err := loadDrops()
	if err != nil {
		return nil, err
	}
	pods, err := newPodDirectory(cfg.Endpoint, cfg.Timeout, p.proc)
	if err != nil {
		return nil, err
	}
	c := &dropsCollector{env: env, paths: p, reasons: reasons, pods: pods, hostBase: map[uint32]uint64{},
		limiter: limits.New(prometheus.BuildFQName(namespace, "", "packet_drops_total"), cfg.MaxPods, env.Self)}
	if c.set, err = bpfload.Load(spec, &c.objs, env.Self); err != nil {
		return nil, errors.Join(err, pods.Close())
	}
	return c, nil
}

// dropReasons returns the names of enum skb_drop_reason in the kernel's
// BTF, without their SKB_DROP_REASON_ or SKB_ prefix, as the kernel's own
// drop_reasons table spells them (NO_SOCKET, NOT_SPECIFIED).
func dropReasons() (map[uint32]string, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return nil, fmt.Errorf("kernel BTF: %w", err)
	}
	var enum *btf.Enum
	if err := spec.TypeByName("skb_drop_reason", &enum); err != nil {
		return nil, fmt.Errorf("enum skb_drop_reason in kernel BTF: %w", err)
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
	c.mu.Lock()
	defer c.mu.Unlock()
	gone, criErr := c.pods.refresh(ctx, time.Now())
	if err := c.forget(gone); err != nil {
		return errors.Join(criErr, err)
	}
	rows, err := maps.ReadCounters(c.objs.DropCounts)
	if err != nil {
		return errors.Join(criErr, err)
	}
	c.env.Self.MapEntries("drop_counts", len(rows), int(c.objs.DropCounts.MaxEntries()))
	live, err := liveNetns(c.paths)
	if err != nil {
		return errors.Join(criErr, err)
	}
	series, folded := c.attribute(rows, live)
	for s, n := range series {
		ch <- prometheus.MustNewConstMetric(dropsDesc, prometheus.CounterValue, float64(n), s.namespace, s.pod, s.reason)
	}
	return errors.Join(criErr, maps.Delete(c.objs.DropCounts, folded), c.reportLost())
}

// attribute sums rows into series. It returns the rows of gone namespaces
// that no pod holds, which it has added to hostBase: the caller deletes
// them from the kernel's map.
func (c *dropsCollector) attribute(rows map[maps.CounterKey]uint64, live map[uint64]struct{}) (map[dropSeries]uint64, []maps.CounterKey) {
	series := map[dropSeries]uint64{}
	for reason, n := range c.hostBase {
		series[dropSeries{reason: c.reason(reason)}] += n
	}
	pods := c.pods.byNetns()
	var folded []maps.CounterKey
	for k, n := range rows {
		reason := c.reason(k.Event)
		if pod, ok := pods[k.ID]; ok {
			s := dropSeries{namespace: pod.namespace, pod: pod.name, reason: reason}
			if !c.limiter.Admit(pod.key()) {
				s = dropSeries{pod: limits.OverflowLabel, reason: reason}
			}
			series[s] += n
			continue
		}
		if _, alive := live[k.ID]; !alive {
			c.hostBase[k.Event] += n
			folded = append(folded, k)
		}
		series[dropSeries{reason: reason}] += n
	}
	return series, folded
}

// forget removes the kernel's counts of the namespaces of sandboxes gone
// for grace and releases their pods' series slots.
func (c *dropsCollector) forget(gone []sandbox) error {
	if len(gone) == 0 {
		return nil
	}
	netns := map[uint64]bool{}
	for _, s := range gone {
		c.limiter.Forget(s.pod.key())
		if s.netns != 0 {
			netns[s.netns] = true
		}
	}
	rows, err := maps.ReadCounters(c.objs.DropCounts)
	if err != nil {
		return err
	}
	var stale []maps.CounterKey
	for k := range rows {
		if netns[k.ID] {
			stale = append(stale, k)
		}
	}
	return maps.Delete(c.objs.DropCounts, stale)
}

func (c *dropsCollector) reportLost() error {
	totals, err := maps.ReadLost(c.objs.LostEvents)
	if err != nil {
		return err
	}
	for i, total := range totals {
		c.env.Self.SetEventsLost(dropsCollectorName, maps.LostReasons[i], total)
	}
	return nil
}

// Close detaches the program and closes the CRI connection.
func (c *dropsCollector) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return errors.Join(c.set.Close(), c.pods.Close())
}
