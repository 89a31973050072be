// Package collector holds dns_exporter's collector: DNS queries, responses,
// latency, unanswered queries and truncation per workload, from packets
// parsed and correlated in the kernel (bpf/dns/dns.bpf.c).
package collector

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/histogram"
	"github.com/bpfleet/bpfleet/internal/maps"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
	"github.com/bpfleet/bpfleet/internal/series"
	"github.com/bpfleet/bpfleet/internal/workload"
)

const namespace = "dns"

// Closed label values, in the order of the C enums.
var (
	qtypes          = []string{"A", "AAAA", "CNAME", "MX", "NS", "PTR", "SOA", "SRV", "TXT", "HTTPS", "SVCB", "ANY", "other"}
	rcodes          = []string{"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "other"}
	protocols       = []string{"udp", "tcp"}
	families        = []string{"ipv4", "ipv6"}
	malformedReason = []string{"truncated", "bad_label", "compression_loop", "name_too_long", "no_question"}
)

// Event kinds of counter_key.event.
const (
	kindQuery     = 0
	kindResponse  = 1
	kindTruncated = 2
)

func workloadDesc(name, help string, extra ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help,
		append(slices.Clone(workload.LabelNames), extra...), nil)
}

var (
	queriesDesc = workloadDesc("queries_total",
		"DNS queries sent by the workload.", "qtype", "protocol", "family")
	responsesDesc = workloadDesc("responses_total",
		"DNS responses received by the workload, by response code.", "qtype", "rcode", "protocol", "family")
	latencyDesc = workloadDesc("response_latency_seconds",
		"Time from a DNS query leaving the workload's socket to its response arriving.", "qtype", "protocol", "family")
	unansweredDesc = workloadDesc("queries_unanswered_total",
		"DNS queries of the workload that got no response within --collector.dns.timeout.", "qtype", "protocol", "family")
	truncatedDesc = workloadDesc("responses_truncated_total",
		"DNS responses over UDP with the TC bit set (the client has to retry over TCP).", "qtype", "family")
	malformedDesc = prometheus.NewDesc("dns_packets_malformed_total",
		"DNS packets to or from a DNS port that could not be parsed, by reason.", []string{"reason"}, nil)
)

// Descs returns the descriptors of every metric the collector serves.
func Descs() []*prometheus.Desc {
	return []*prometheus.Desc{queriesDesc, responsesDesc, latencyDesc, unansweredDesc, truncatedDesc, malformedDesc, nxdomainByNameDesc}
}

// Spec returns the dns collector, on by default.
func Spec() exporter.Spec {
	return exporter.Spec{
		Name:    "dns",
		Help:    "DNS queries, responses, latency and unanswered queries per workload",
		Default: true,
		Flags: func(fs *exporter.FlagSet) exporter.New {
			ports := fs.Flag("ports", "Comma-separated DNS server ports whose traffic is DNS.").Default("53").String()
			timeout := fs.Flag("timeout", "Time after which a query without a response counts as unanswered.").Default("5s").Duration()
			names := fs.Flag("names", "Count NXDOMAIN responses by queried name (dns_nxdomain_responses_by_name_total).").Default("false").Bool()
			namesMax := fs.Flag("names.max", "Distinct names counted by --collector.dns.names; the rest go to name=\"__overflow__\".").Default("100").Int()
			var o Options
			fs.Validate(func() error {
				p, err := parsePorts(*ports)
				if err != nil {
					return err
				}
				if *timeout <= 0 {
					return fmt.Errorf("--collector.dns.timeout: must be positive, got %s", *timeout)
				}
				if *namesMax < 1 {
					return fmt.Errorf("--collector.dns.names.max: must be at least 1, got %d", *namesMax)
				}
				o = Options{Ports: p, Timeout: *timeout, Names: *names, NamesMax: *namesMax}
				return nil
			})
			return func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
				return New(env, o)
			}
		},
	}
}

// parsePorts parses "53,5353".
func parsePorts(s string) ([]uint16, error) {
	var ports []uint16
	for _, f := range strings.Split(s, ",") {
		p, err := strconv.ParseUint(strings.TrimSpace(f), 10, 16)
		if err != nil || p == 0 {
			return nil, fmt.Errorf("--collector.dns.ports: %q is not a port", f)
		}
		ports = append(ports, uint16(p))
	}
	if len(ports) > 16 {
		return nil, fmt.Errorf("--collector.dns.ports: at most 16 ports, got %d", len(ports))
	}
	return ports, nil
}

// Options configures the collector.
type Options struct {
	Ports    []uint16
	Timeout  time.Duration
	Names    bool // count NXDOMAIN responses by name
	NamesMax int  // distinct names counted; 100 when 0
}

// Collector is the dns collector. Its reaper turns queries that waited
// longer than the timeout into unanswered queries.
type Collector struct {
	objs    dnsObjects
	set     *bpfload.Set
	self    *selfmetrics.Metrics
	attr    *series.Attributor
	timeout time.Duration
	names   *nameCounter // nil unless Options.Names

	mu         sync.Mutex
	unanswered map[unansweredKey]uint64

	stop chan struct{}
	done chan struct{}
}

type unansweredKey struct {
	cgroup uint64
	labels uint32
}

// New loads the programs, attaches them to the cgroup v2 root and starts
// the reaper.
func New(env exporter.Env, o Options) (*Collector, error) {
	if env.Workload == nil {
		return nil, errors.New("dns collector needs workload attribution")
	}
	spec, err := loadDns()
	if err != nil {
		return nil, fmt.Errorf("reading dns BPF spec: %w", err)
	}
	c := &Collector{
		self:       env.Self,
		attr:       series.NewAttributor(series.Options{Resolver: env.Workload, Self: env.Self}),
		timeout:    o.Timeout,
		unanswered: make(map[unansweredKey]uint64),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
	}
	if o.Names {
		if err := spec.Variables["capture_nxdomain_names"].Set(uint8(1)); err != nil {
			return nil, fmt.Errorf("turning name capture on: %w", err)
		}
	}
	c.set, err = bpfload.Load(spec, &c.objs, env.Self, bpfload.CgroupRoot(env.Workload.CgroupRoot()))
	if err != nil {
		return nil, err
	}
	if o.Names {
		if o.NamesMax == 0 {
			o.NamesMax = 100
		}
		if c.names, err = newNameCounter(c.objs.DnsNames, o.NamesMax, env.Self); err != nil {
			c.set.Close()
			return nil, err
		}
	}
	for _, p := range o.Ports {
		var be [2]byte
		binary.BigEndian.PutUint16(be[:], p)
		if err := c.objs.DnsPorts.Put(binary.NativeEndian.Uint16(be[:]), uint8(1)); err != nil {
			c.set.Close()
			return nil, fmt.Errorf("setting DNS port %d: %w", p, err)
		}
	}
	go c.reapLoop()
	return c, nil
}

// reapLoop reaps unanswered queries several times per timeout.
func (c *Collector) reapLoop() {
	defer close(c.done)
	t := time.NewTicker(max(c.timeout/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			_, _ = c.reap() // errors surface in the next scrape's reap
		}
	}
}

// reap deletes pending queries older than the timeout and counts each one
// it deleted as unanswered (a response that raced it took it first). It
// returns how many queries are still pending.
func (c *Collector) reap() (int, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, err
	}
	now := uint64(ts.Nano())
	var key dnsPendingKey
	var q dnsPendingQuery
	var stale []dnsPendingKey
	var queries []dnsPendingQuery
	entries := 0
	it := c.objs.DnsPending.Iterate()
	for it.Next(&key, &q) {
		entries++
		if now > q.Ts && time.Duration(now-q.Ts) > c.timeout {
			stale = append(stale, key)
			queries = append(queries, q)
		}
	}
	if err := it.Err(); err != nil {
		return 0, fmt.Errorf("iterating pending queries: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, k := range stale {
		if err := c.objs.DnsPending.Delete(k); err != nil {
			continue // answered meanwhile
		}
		c.unanswered[unansweredKey{queries[i].Cgroup, queries[i].Labels}]++
	}
	return entries - len(stale), nil
}

var latencyOpts = histogram.Opts{
	Schema:  histogram.KernelSchema,
	Scale:   1e-9,
	Classic: histogram.ClassicPowersOfTwo(-17, 3), // ~7.6µs to 8s
}

// Update implements exporter.Collector.
func (c *Collector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	counts, err := maps.ReadCounters(c.objs.DnsCounts)
	if err != nil {
		return err
	}
	hists, err := maps.ReadHistograms(c.objs.DnsLatency)
	if err != nil {
		return err
	}
	pending, reapErr := c.reap()
	c.self.MapEntries("dns_counts", len(counts), int(c.objs.DnsCounts.MaxEntries()))
	c.self.MapEntries("dns_latency", len(hists), int(c.objs.DnsLatency.MaxEntries()))
	c.self.MapEntries("dns_pending", pending, int(c.objs.DnsPending.MaxEntries()))

	s := c.attr.Begin(ctx)
	var errs []error
	for k, v := range counts {
		errs = append(errs, c.addCounter(s, k, v))
	}
	for k, v := range hists {
		qt, proto, fam, err := histLabels(k.Labels)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Histogram(latencyDesc, "dns_response_latency_seconds", k.ID, k.Bucket, v.Count, v.Sum, qt, proto, fam)
	}
	c.mu.Lock()
	for k, v := range c.unanswered {
		qt, proto, fam, err := histLabels(k.labels)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Counter(unansweredDesc, "dns_queries_unanswered_total", k.cgroup, v, qt, proto, fam)
	}
	c.mu.Unlock()
	if c.names != nil {
		c.names.add(s)
	}
	errs = append(errs, s.Emit(ch, latencyOpts), c.emitMalformed(ch), c.reportLost(), reapErr)
	gone := c.attr.Expired()
	errs = append(errs, c.forget(counts, hists, gone))
	return errors.Join(errs...)
}

// addCounter adds one dns_counts row to the scrape.
func (c *Collector) addCounter(s *series.Scrape, k maps.CounterKey, v uint64) error {
	kind, qt, rc, proto, fam := k.Event&0xf, k.Event>>4&0xf, k.Event>>8&0xf, k.Event>>12&1, k.Event>>13&1
	if int(qt) >= len(qtypes) || int(rc) >= len(rcodes) {
		return fmt.Errorf("unknown dns event %#x", k.Event)
	}
	switch kind {
	case kindQuery:
		s.Counter(queriesDesc, "dns_queries_total", k.ID, v, qtypes[qt], protocols[proto], families[fam])
	case kindResponse:
		s.Counter(responsesDesc, "dns_responses_total", k.ID, v, qtypes[qt], rcodes[rc], protocols[proto], families[fam])
	case kindTruncated:
		s.Counter(truncatedDesc, "dns_responses_truncated_total", k.ID, v, qtypes[qt], families[fam])
	default:
		return fmt.Errorf("unknown dns event %#x", k.Event)
	}
	return nil
}

// histLabels decodes HIST_LABELS.
func histLabels(l uint32) (qtype, protocol, family string, err error) {
	qt, proto, fam := l&0xff, l>>8&1, l>>9&1
	if int(qt) >= len(qtypes) || l>>10 != 0 {
		return "", "", "", fmt.Errorf("unknown dns labels %#x", l)
	}
	return qtypes[qt], protocols[proto], families[fam], nil
}

func (c *Collector) emitMalformed(ch chan<- prometheus.Metric) error {
	for i, reason := range malformedReason {
		var perCPU []uint64
		if err := c.objs.DnsMalformed.Lookup(uint32(i), &perCPU); err != nil {
			return fmt.Errorf("reading malformed packets: %w", err)
		}
		var total uint64
		for _, v := range perCPU {
			total += v
		}
		ch <- prometheus.MustNewConstMetric(malformedDesc, prometheus.CounterValue, float64(total), reason)
	}
	return nil
}

func (c *Collector) reportLost() error {
	totals, err := maps.ReadLost(c.objs.LostEvents)
	if err != nil {
		return err
	}
	for i, total := range totals {
		c.self.SetEventsLost("dns", maps.LostReasons[i], total)
	}
	return nil
}

// forget drops the rows and unanswered counts of workloads gone past their
// grace period.
func (c *Collector) forget(counts map[maps.CounterKey]uint64, hists map[maps.HistKey]maps.HistValue, gone []uint64) error {
	if len(gone) == 0 {
		return nil
	}
	if c.names != nil {
		goneSet := make(map[uint64]bool, len(gone))
		for _, id := range gone {
			goneSet[id] = true
		}
		c.names.forget(goneSet)
	}
	var ck []maps.CounterKey
	for k := range counts {
		if slices.Contains(gone, k.ID) {
			ck = append(ck, k)
		}
	}
	var hk []maps.HistKey
	for k := range hists {
		if slices.Contains(gone, k.ID) {
			hk = append(hk, k)
		}
	}
	c.mu.Lock()
	for k := range c.unanswered {
		if slices.Contains(gone, k.cgroup) {
			delete(c.unanswered, k)
		}
	}
	c.mu.Unlock()
	return errors.Join(maps.Delete(c.objs.DnsCounts, ck), maps.Delete(c.objs.DnsLatency, hk))
}

// Close stops the reaper and the name reader and detaches the programs.
func (c *Collector) Close() error {
	close(c.stop)
	<-c.done
	var err error
	if c.names != nil {
		err = c.names.close()
	}
	return errors.Join(err, c.set.Close())
}
