package collector

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"

	"github.com/bpfleet/bpfleet/internal/limits"
	"github.com/bpfleet/bpfleet/internal/maps"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
	"github.com/bpfleet/bpfleet/internal/series"
)

// nameEventSize is the size of struct name_event, as bpf2go generates it.
var nameEventSize = binary.Size(dnsNameEvent{})

// nameCounter counts NXDOMAIN responses by workload and queried name from
// the dns_names ring buffer (--collector.dns.names).
//
// At most max distinct names are counted under their own name; responses
// for further names are counted under limits.OverflowLabel as they arrive,
// which bounds both the name label's values and this table. That is a bound
// on a label's values, as qtype="other" is, not a series cap: the metric's
// series cap is the one of every per-workload metric (workloads, the
// collector's series.Attributor), so each series is put to one limiter once
// per scrape and dns_exporter_series_overflow_total counts workloads only.
// A name's slot is released once no workload still counted has it.
type nameCounter struct {
	ring      *ebpf.Map
	max       int
	self      *selfmetrics.Metrics
	collector string // the collector label of self-metrics

	mu     sync.Mutex
	counts map[nameKey]uint64
	names  map[string]int // names counted under their own name → rows that have it
}

type nameKey struct {
	cgroup uint64
	name   string
}

// newNameCounter returns a counter of the records of ring; it acquires
// nothing: Run reads ring.
func newNameCounter(ring *ebpf.Map, max int, self *selfmetrics.Metrics, collector string) *nameCounter {
	return &nameCounter{
		ring:      ring,
		max:       max,
		self:      self,
		collector: collector,
		counts:    make(map[nameKey]uint64),
		names:     make(map[string]int),
	}
}

// Run implements exporter.Runner: it reads the ring buffer, with a reader
// of its own that it closes before returning, until ctx is done.
func (n *nameCounter) Run(ctx context.Context) error {
	return maps.ReadRing(ctx, n.ring, time.Second, n.handle, nil)
}

// handle counts one struct name_event.
func (n *nameCounter) handle(raw []byte) {
	start := time.Now()
	defer func() { n.self.ObserveEventProcessing(n.collector, time.Since(start)) }()
	name, cgroup, err := decodeNameEvent(raw)
	if err != nil {
		n.self.AddEventsLost(n.collector, "parse_error", 1)
		return
	}
	n.count(cgroup, name)
}

// decodeNameEvent decodes a struct name_event: the cgroup id and the name
// it carries, in presentation form.
func decodeNameEvent(raw []byte) (name string, cgroup uint64, err error) {
	if len(raw) < nameEventSize {
		return "", 0, fmt.Errorf("name event of %d bytes, want %d", len(raw), nameEventSize)
	}
	var ev dnsNameEvent
	if _, err := binary.Decode(raw[:nameEventSize], binary.NativeEndian, &ev); err != nil {
		return "", 0, fmt.Errorf("decoding name event: %w", err)
	}
	if int(ev.Len) > len(ev.Name) {
		return "", 0, fmt.Errorf("name event of %d name bytes, at most %d", ev.Len, len(ev.Name))
	}
	name, err = ParseName(ev.Name[:ev.Len])
	return name, ev.Cgroup, err
}

// count counts one NXDOMAIN response for name by cgroup, under the
// overflow name when name is not counted and max names are.
func (n *nameCounter) count(cgroup uint64, name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.names[name]; !ok && len(n.names) >= n.max {
		name = limits.OverflowLabel
	}
	k := nameKey{cgroup, name}
	if _, ok := n.counts[k]; !ok && name != limits.OverflowLabel {
		n.names[name]++
	}
	n.counts[k]++
}

// add puts the counts into a scrape.
func (n *nameCounter) add(s *series.Scrape[uint64]) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for k, v := range n.counts {
		s.Counter(nxdomainByName, k.cgroup, v, k.name)
	}
}

// forget drops the counts of gone workloads and releases the names no
// other workload has.
func (n *nameCounter) forget(gone map[uint64]bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for k := range n.counts {
		if !gone[k.cgroup] {
			continue
		}
		delete(n.counts, k)
		if k.name == limits.OverflowLabel {
			continue
		}
		if n.names[k.name]--; n.names[k.name] == 0 {
			delete(n.names, k.name)
		}
	}
}

// ParseName decodes a DNS name in wire format (length-prefixed labels up to
// a zero label) into dotted, lower-case presentation form ("example.com.",
// "." for the root). Bytes outside printable ASCII, dots and backslashes in
// labels are escaped as \DDD. A compression pointer, a reserved label type,
// a name over 255 bytes or one without its end is an error.
func ParseName(wire []byte) (string, error) {
	var b strings.Builder
	for off := 0; ; {
		if off >= len(wire) {
			return "", errors.New("name without its end")
		}
		l := int(wire[off])
		if l == 0 {
			if off+1 > 255 {
				return "", errors.New("name over 255 bytes")
			}
			if b.Len() == 0 {
				return ".", nil
			}
			return b.String(), nil
		}
		if l&0xc0 != 0 {
			return "", fmt.Errorf("label type %#x at %d", l&0xc0, off)
		}
		if off+1+l > len(wire) {
			return "", errors.New("label past the end")
		}
		writeLabel(&b, wire[off+1:off+1+l])
		b.WriteByte('.')
		off += 1 + l
	}
}

func writeLabel(b *strings.Builder, label []byte) {
	for _, c := range label {
		switch {
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		case c == '.' || c == '\\' || c <= ' ' || c >= 0x7f:
			fmt.Fprintf(b, "\\%03d", c)
		default:
			b.WriteByte(c)
		}
	}
}
