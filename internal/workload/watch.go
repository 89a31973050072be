package workload

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/maps"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
)

//go:generate go tool bpf2go -tags linux -target bpfel -cflags "-O2 -g -Wall -Werror" cgroupWatch ../../bpf/workload/cgroup.bpf.c -- -I../../bpf/include

// WatchCollector is the collector label of the watcher's self-metrics
// (events lost, event processing time).
const WatchCollector = "workload"

// lostReportInterval is how often the watcher publishes its lost events
// when no event arrives.
const lostReportInterval = 5 * time.Second

// Watch learns the path of every new cgroup v2 directory from the kernel
// when it is made (tp_btf/cgroup_mkdir; needs kernel BTF) and remembers its
// labels, so that a workload whose cgroup is gone before a scrape keeps
// them. It returns when ctx is done (nil), or when its program cannot be
// loaded (the error; lookups then still resolve live cgroups).
func (r *Resolver) Watch(ctx context.Context, self *selfmetrics.Metrics) error {
	spec, err := loadCgroupWatch()
	if err != nil {
		return fmt.Errorf("reading cgroup watch BPF spec: %w", err)
	}
	var objs cgroupWatchObjects
	set, err := bpfload.Load(spec, &objs, self)
	if err != nil {
		return err
	}
	defer set.Close()
	rd, err := ringbuf.NewReader(objs.CgroupEvents)
	if err != nil {
		return fmt.Errorf("reading cgroup events: %w", err)
	}
	defer rd.Close()
	stop := context.AfterFunc(ctx, func() { rd.Close() }) // interrupts Read
	defer stop()
	for {
		rd.SetDeadline(time.Now().Add(lostReportInterval))
		rec, err := rd.Read()
		switch {
		case err == nil:
			r.handleCgroupEvent(ctx, rec.RawSample, self)
		case errors.Is(err, ringbuf.ErrClosed):
			return nil
		case !errors.Is(err, os.ErrDeadlineExceeded):
			return fmt.Errorf("reading cgroup events: %w", err)
		}
		if err := reportLost(objs.LostEvents, self); err != nil {
			return err
		}
	}
}

func (r *Resolver) handleCgroupEvent(ctx context.Context, raw []byte, self *selfmetrics.Metrics) {
	start := time.Now()
	id, path, err := parseCgroupEvent(raw)
	if err != nil {
		self.AddEventsLost(WatchCollector, "parse_error", 1)
		return
	}
	r.Remember(ctx, id, path)
	self.ObserveEventProcessing(WatchCollector, time.Since(start))
}

// parseCgroupEvent decodes struct cgroup_event: a native-endian u64 id and
// a NUL-terminated path.
func parseCgroupEvent(raw []byte) (uint64, string, error) {
	if len(raw) < 9 {
		return 0, "", fmt.Errorf("cgroup event of %d bytes", len(raw))
	}
	id := binary.NativeEndian.Uint64(raw)
	path, _, ok := bytes.Cut(raw[8:], []byte{0})
	if !ok || len(path) == 0 || path[0] != '/' {
		return 0, "", fmt.Errorf("cgroup event with path %q", path)
	}
	return id, string(path), nil
}

// reportLost publishes the ring buffer records the program could not store.
func reportLost(lost *ebpf.Map, self *selfmetrics.Metrics) error {
	totals, err := maps.ReadLost(lost)
	if err != nil {
		return err
	}
	for i, total := range totals {
		self.SetEventsLost(WatchCollector, maps.LostReasons[i], total)
	}
	return nil
}
