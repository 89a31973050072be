package workload

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cilium/ebpf"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/maps"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
)

//go:generate go tool bpf2go -tags linux -target bpfel -type cgroup_event -type cgroup_event_kind cgroupWatch ../../bpf/workload/cgroup.bpf.c -- -I../../bpf/include

// WatchCollector is the collector label of the watcher's self-metrics
// (events lost, event processing time).
const WatchCollector = "workload"

// lostReportInterval is how often the watcher publishes its lost events
// when no event arrives.
const lostReportInterval = 5 * time.Second

// Watch learns the path of every new cgroup v2 directory from the kernel
// when it is made (tp_btf/cgroup_mkdir; needs kernel BTF) and remembers its
// labels, so that a workload whose cgroup is gone before a scrape keeps
// them; and every removal (tp_btf/cgroup_rmdir), so that while it runs,
// with no record lost, Lookup answers cached cgroups without a syscall. It
// returns when ctx is done (nil), or when its program cannot be loaded (the
// error; lookups then ask the kernel about every cgroup, as without it).
//
// loader loads the watcher's program; self receives its lost events and
// event processing times.
func (r *Resolver) Watch(ctx context.Context, loader *bpfload.Loader, self *selfmetrics.Metrics) error {
	spec, err := loadCgroupWatch()
	if err != nil {
		return fmt.Errorf("reading cgroup watch BPF spec: %w", err)
	}
	var objs cgroupWatchObjects
	set, err := loader.Load(spec, &objs)
	if err != nil {
		return err
	}
	defer set.Close()
	// From here on every removal is seen: entries cached before may belong
	// to cgroups removed unseen, so they go.
	r.cache.Purge()
	r.lostSeen = 0 // a new program's lost_events starts at 0
	r.watched.Store(true)
	defer r.watched.Store(false)
	handle := func(raw []byte) { r.handleCgroupEvent(ctx, raw, self) }
	tick := func() error {
		r.sweep()
		return r.reportLost(objs.LostEvents, self)
	}
	return maps.ReadRing(ctx, objs.CgroupEvents, lostReportInterval, handle, tick)
}

func (r *Resolver) handleCgroupEvent(ctx context.Context, raw []byte, self *selfmetrics.Metrics) {
	start := time.Now()
	ev, err := parseCgroupEvent(raw)
	if err != nil {
		self.AddEventsLost(WatchCollector, "parse_error", 1)
		r.resync() // a removal may be the record we could not read
		return
	}
	if ev.removed {
		r.markGone(ev.id)
	} else {
		r.Remember(ctx, ev.id, ev.path)
	}
	self.ObserveEventProcessing(WatchCollector, time.Since(start))
}

// cgroupEvent is a decoded struct cgroup_event.
type cgroupEvent struct {
	id      uint64
	removed bool
	path    string
}

// parseCgroupEvent decodes a struct cgroup_event record into its
// generated Go type; the path must be absolute and NUL-terminated.
func parseCgroupEvent(raw []byte) (cgroupEvent, error) {
	var ev cgroupWatchCgroupEvent
	if _, err := binary.Decode(raw, binary.NativeEndian, &ev); err != nil {
		return cgroupEvent{}, fmt.Errorf("cgroup event of %d bytes: %w", len(raw), err)
	}
	kind := cgroupWatchCgroupEventKind(ev.Kind)
	if kind != cgroupWatchCgroupEventKindCGROUP_MADE && kind != cgroupWatchCgroupEventKindCGROUP_REMOVED {
		return cgroupEvent{}, fmt.Errorf("cgroup event of kind %d", ev.Kind)
	}
	path, ok := cString(ev.Path[:])
	if !ok || len(path) == 0 || path[0] != '/' {
		return cgroupEvent{}, fmt.Errorf("cgroup event with path %q", path)
	}
	return cgroupEvent{id: ev.Id, removed: kind == cgroupWatchCgroupEventKindCGROUP_REMOVED, path: path}, nil
}

// cString returns the NUL-terminated string at the start of b; ok is false
// without a NUL.
func cString(b []int8) (string, bool) {
	out := make([]byte, 0, 64)
	for _, c := range b {
		if c == 0 {
			return string(out), true
		}
		out = append(out, byte(c))
	}
	return string(out), false
}

// reportLost publishes the ring buffer records the program could not store;
// when more were lost since the last call, a removal may have been one, and
// the cache is checked against the kernel (resync).
func (r *Resolver) reportLost(lost *ebpf.Map, self *selfmetrics.Metrics) error {
	totals, err := maps.ReadLost(lost)
	if err != nil {
		return err
	}
	var sum uint64
	for i, total := range totals {
		self.SetEventsLost(WatchCollector, maps.LostReasons[i], total)
		sum += total
	}
	if sum > r.lostSeen {
		r.lostSeen = sum
		r.resync()
	}
	return nil
}

// resync asks the kernel about every cached cgroup not known to be gone
// and records those removed, after a record was lost: lookups answer from
// the cache again afterwards, rather than asking the kernel about every
// cgroup until the exporter restarts. While it runs, lookups ask the kernel.
// Only the watch goroutine calls it.
func (r *Resolver) resync() {
	r.watched.Store(false)
	for _, id := range r.cache.Keys() {
		if e, ok := r.cache.Peek(id); ok && !e.gone {
			if _, err := r.paths.find(id); errors.Is(err, errGone) {
				r.markGone(id)
			}
		}
	}
	r.watched.Store(true)
}
