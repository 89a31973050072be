package collector

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/ringbuf"

	"github.com/bpfleet/bpfleet/internal/limits"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
	"github.com/bpfleet/bpfleet/internal/series"
)

var nxdomainByNameDesc = workloadDesc("nxdomain_responses_by_name_total",
	"NXDOMAIN responses received by the workload, by queried name (--collector.dns.names; names beyond --collector.dns.names.max go to name=\"__overflow__\").",
	"name")

const nxdomainMetric = "dns_nxdomain_responses_by_name_total"

// nameEventHeader is the size of struct name_event before its name.
const nameEventHeader = 12

// nameCounter counts NXDOMAIN responses by workload and name from the
// dns_names ring buffer.
type nameCounter struct {
	rd    *ringbuf.Reader
	self  *selfmetrics.Metrics
	limit *limits.Limiter
	done  chan struct{}

	mu     sync.Mutex
	counts map[nameKey]uint64
}

type nameKey struct {
	cgroup uint64
	name   string
}

func newNameCounter(m *ebpf.Map, max int, self *selfmetrics.Metrics) (*nameCounter, error) {
	rd, err := ringbuf.NewReader(m)
	if err != nil {
		return nil, fmt.Errorf("reading NXDOMAIN names: %w", err)
	}
	n := &nameCounter{
		rd:     rd,
		self:   self,
		limit:  limits.New(nxdomainMetric, max, self),
		done:   make(chan struct{}),
		counts: make(map[nameKey]uint64),
	}
	go n.run()
	return n, nil
}

func (n *nameCounter) run() {
	defer close(n.done)
	for {
		rec, err := n.rd.Read()
		if errors.Is(err, ringbuf.ErrClosed) {
			return
		}
		if err != nil {
			n.self.AddEventsLost("dns", "read_error", 1)
			continue
		}
		start := time.Now()
		n.handle(rec.RawSample)
		n.self.ObserveEventProcessing("dns", time.Since(start))
	}
}

// handle counts one struct name_event: cgroup, length, wire-format name.
func (n *nameCounter) handle(raw []byte) {
	if len(raw) < nameEventHeader {
		n.self.AddEventsLost("dns", "parse_error", 1)
		return
	}
	cgroup := binary.NativeEndian.Uint64(raw)
	length := int(binary.NativeEndian.Uint32(raw[8:]))
	wire := raw[nameEventHeader:]
	if length > len(wire) {
		n.self.AddEventsLost("dns", "parse_error", 1)
		return
	}
	name, err := ParseName(wire[:length])
	if err != nil {
		n.self.AddEventsLost("dns", "parse_error", 1)
		return
	}
	n.mu.Lock()
	n.counts[nameKey{cgroup, name}]++
	n.mu.Unlock()
}

// add puts the counts into a scrape, folding names beyond the cap into the
// overflow name.
func (n *nameCounter) add(s *series.Scrape) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for k, v := range n.counts {
		name := k.name
		if !n.limit.Admit(name) {
			name = limits.OverflowLabel
		}
		s.Counter(nxdomainByNameDesc, nxdomainMetric, k.cgroup, v, name)
	}
}

// forget drops the counts of gone workloads.
func (n *nameCounter) forget(gone map[uint64]bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for k := range n.counts {
		if gone[k.cgroup] {
			delete(n.counts, k)
		}
	}
}

func (n *nameCounter) close() error {
	err := n.rd.Close()
	<-n.done
	return err
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
