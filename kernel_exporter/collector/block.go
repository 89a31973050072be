package collector

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/histogram"
	"github.com/bpfleet/bpfleet/internal/maps"
)

// blockOperations names enum block_op, a histogram's labels.
var blockOperations = map[blockBlockOp]string{
	blockBlockOpEV_BLOCK_OP_READ:    "read",
	blockBlockOpEV_BLOCK_OP_WRITE:   "write",
	blockBlockOpEV_BLOCK_OP_FLUSH:   "flush",
	blockBlockOpEV_BLOCK_OP_DISCARD: "discard",
	blockBlockOpEV_BLOCK_OP_OTHER:   "other",
}

// blockCollector measures block I/O latency per device and operation
// (bpf/kernel/block.bpf.c). With kernel BTF it reads the kernel's own issue
// time of each request (blockBTFObjects); without, it uses classic
// tracepoints and no CO-RE (blockClassicObjects).
type blockCollector struct {
	bpfCollector
	maps    *blockMaps
	latency *prometheus.Desc
	devices map[uint32]string
}

// blockBTFObjects are the objects of block.bpf.c's BTF design.
type blockBTFObjects struct {
	blockMaps
	Issue    *ebpf.Program `ebpf:"block_rq_issue_btf"`
	Complete *ebpf.Program `ebpf:"block_rq_complete_btf"`
}

func (o *blockBTFObjects) Close() error {
	return errors.Join(o.Issue.Close(), o.Complete.Close(), o.blockMaps.Close())
}

// blockClassicObjects are the objects of block.bpf.c's classic tracepoint
// design.
type blockClassicObjects struct {
	blockMaps
	Issue    *ebpf.Program `ebpf:"block_rq_issue"`
	Complete *ebpf.Program `ebpf:"block_rq_complete"`
}

func (o *blockClassicObjects) Close() error {
	return errors.Join(o.Issue.Close(), o.Complete.Close(), o.blockMaps.Close())
}

// blockStatsBits returns the bit numbers of QUEUE_FLAG_STATS and RQF_STATS
// in the running kernel, from its BTF; ok is false when the kernel has no
// BTF or names neither (kernels before 6.1 define RQF_STATS as a macro).
// A variable, so that a test can force the classic design.
var blockStatsBits = func() (queueFlag, rqf uint32, ok bool) {
	spec, err := btf.LoadSpec("/sys/kernel/btf/vmlinux")
	if err != nil {
		return 0, 0, false
	}
	for _, m := range []struct{ typ, member string }{
		{"request", "io_start_time_ns"}, {"request", "rq_flags"}, {"request", "__data_len"},
		{"request_queue", "queue_flags"}, {"request_queue", "disk"}, {"gendisk", "first_minor"},
	} {
		if !hasMember(spec, m.typ, m.member) {
			return 0, 0, false
		}
	}
	var flags *btf.Enum
	if err := spec.TypeByName("rqf_flags", &flags); err != nil {
		return 0, 0, false
	}
	rqf, ok = enumValue(flags, "__RQF_STATS")
	if !ok {
		return 0, 0, false
	}
	// QUEUE_FLAG_STATS is a value of an anonymous enum: scan for it.
	for typ, err := range spec.All() {
		if err != nil {
			return 0, 0, false
		}
		if e, isEnum := typ.(*btf.Enum); isEnum && e.Name == "" {
			if queueFlag, ok = enumValue(e, "QUEUE_FLAG_STATS"); ok {
				return queueFlag, rqf, true
			}
		}
	}
	return 0, 0, false
}

// hasMember reports whether struct typ of spec has a member called member.
func hasMember(spec *btf.Spec, typ, member string) bool {
	var s *btf.Struct
	if err := spec.TypeByName(typ, &s); err != nil {
		return false
	}
	for _, m := range s.Members {
		if m.Name == member {
			return true
		}
	}
	return false
}

func enumValue(e *btf.Enum, name string) (uint32, bool) {
	for _, v := range e.Values {
		if v.Name == name {
			return uint32(v.Value), true
		}
	}
	return 0, false
}

// blockFields are the tracepoint fields block.bpf.c reads, with the offset
// and size its context struct assumes.
var blockFields = map[string][2]int{"dev": {8, 4}, "sector": {16, 8}, "rwbs": {34, 10}}

func newBlock(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
	c := &blockCollector{latency: blockIOLatency.Desc(), devices: make(map[uint32]string)}
	var (
		objs interface{ Close() error }
		keep []string // the programs of the design chosen
		err  error
	)
	queueFlag, rqf, useBTF := blockStatsBits()
	if useBTF {
		o := &blockBTFObjects{}
		objs, c.maps, keep = o, &o.blockMaps, []string{blockProgBlockRqIssueBtf, blockProgBlockRqCompleteBtf}
	} else {
		if err := checkBlockFormats(); err != nil {
			return nil, err
		}
		o := &blockClassicObjects{}
		objs, c.maps, keep = o, &o.blockMaps, []string{blockProgBlockRqIssue, blockProgBlockRqComplete}
	}
	spec := func() (*ebpf.CollectionSpec, error) {
		s, err := loadBlock()
		if err != nil {
			return nil, err
		}
		if useBTF {
			if err := s.Variables[blockVarQueueFlagStats].Set(queueFlag); err != nil {
				return nil, err
			}
			if err := s.Variables[blockVarRqfStats].Set(rqf); err != nil {
				return nil, err
			}
		}
		keepPrograms(s, keep)
		return s, nil
	}
	c.bpfCollector, err = loadCollector(ctx, env, spec, objs)
	if err != nil {
		return nil, err
	}
	c.lost = c.maps.LostEvents
	return c, nil
}

// keepPrograms removes from spec every program not named in keep.
func keepPrograms(spec *ebpf.CollectionSpec, keep []string) {
	for name := range spec.Programs {
		if !slices.Contains(keep, name) {
			delete(spec.Programs, name)
		}
	}
}

// checkBlockFormats refuses a kernel whose block tracepoint layout is not the
// one block.bpf.c was written for.
func checkBlockFormats() error {
	if err := bpfload.EnsureTracefs(); err != nil {
		return err
	}
	for _, event := range []string{"block_rq_issue", "block_rq_complete"} {
		path := filepath.Join(bpfload.TracefsPath, "events/block", event, "format")
		fields, err := readFormat(path)
		if err != nil {
			return err
		}
		for name, want := range blockFields {
			if got, ok := fields[name]; !ok || got != want {
				return fmt.Errorf("%s: field %s at offset/size %v, want %v: %w", path, name, got, want, errors.ErrUnsupported)
			}
		}
	}
	return nil
}

// readFormat parses a tracepoint format file into field name → offset, size.
func readFormat(path string) (map[string][2]int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fields := make(map[string][2]int)
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, off, size, ok := parseFormatField(sc.Text())
		if ok {
			fields[name] = [2]int{off, size}
		}
	}
	return fields, sc.Err()
}

// parseFormatField parses "field:char rwbs[10];	offset:34;	size:10;	signed:0;".
func parseFormatField(line string) (name string, off, size int, ok bool) {
	parts := strings.Split(strings.TrimSpace(line), ";")
	if len(parts) < 3 || !strings.HasPrefix(parts[0], "field:") {
		return "", 0, 0, false
	}
	decl := strings.Fields(strings.TrimPrefix(parts[0], "field:"))
	if len(decl) == 0 {
		return "", 0, 0, false
	}
	name, _, _ = strings.Cut(decl[len(decl)-1], "[")
	offStr, ok1 := strings.CutPrefix(strings.TrimSpace(parts[1]), "offset:")
	sizeStr, ok2 := strings.CutPrefix(strings.TrimSpace(parts[2]), "size:")
	off, err1 := strconv.Atoi(offStr)
	size, err2 := strconv.Atoi(sizeStr)
	if !ok1 || !ok2 || err1 != nil || err2 != nil {
		return "", 0, 0, false
	}
	return name, off, size, true
}

// device names a kernel dev_t (major << 20 | minor) as its /dev name, or
// "major:minor" when sysfs does not know it.
func (c *blockCollector) device(dev uint32) string {
	if name, ok := c.devices[dev]; ok {
		return name
	}
	id := fmt.Sprintf("%d:%d", dev>>20, dev&(1<<20-1))
	name := id
	if uevent, err := os.ReadFile(filepath.Join("/sys/dev/block", id, "uevent")); err == nil {
		for _, line := range strings.Split(string(uevent), "\n") {
			if v, ok := strings.CutPrefix(line, "DEVNAME="); ok {
				name = v
			}
		}
	}
	c.devices[dev] = name
	return name
}

func (c *blockCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	rows, err := maps.ReadHistograms(c.maps.BlockLatency)
	if err != nil {
		return err
	}
	c.loader.MapEntries(blockMapBlockLatency, c.maps.BlockLatency, len(rows))
	type series struct{ device, op string }
	byLabels := make(map[series]*histogram.Series)
	for k, v := range rows {
		op, ok := blockOperations[blockBlockOp(k.Labels)]
		if !ok {
			op = blockOperations[blockBlockOpEV_BLOCK_OP_OTHER]
		}
		key := series{c.device(uint32(k.ID)), op}
		if byLabels[key] == nil {
			byLabels[key] = &histogram.Series{}
		}
		byLabels[key].Add(k.Bucket, v.Count, v.Sum)
	}
	for key, s := range byLabels {
		m, err := histogram.NewConstMetric(c.latency, s, latencyOpts, key.device, key.op)
		if err != nil {
			return err
		}
		ch <- m
	}
	return c.reportLost()
}
