// Package collector holds dns_exporter's collector: DNS queries, responses,
// latency, unanswered queries and truncation per workload, from packets
// parsed and correlated in the kernel (bpf/dns/dns.bpf.c).
package collector

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
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

// Spec returns the dns collector, on by default.
func Spec() exporter.Spec {
	return exporter.Spec{
		Name:      "dns",
		Help:      "DNS queries, responses, latency and unanswered queries per workload",
		Default:   true,
		MaxSeries: series.DefaultMaxSeries,
		Flags: func(fs *exporter.FlagSet) exporter.New {
			ports := fs.Flag("ports", "Comma-separated DNS server ports whose traffic is DNS.").Default("53").String()
			timeout := fs.Flag("timeout", "Time after which a query without a response counts as unanswered.").Default("5s").Duration()
			names := fs.Flag("names", "Count NXDOMAIN responses by queried name (dns_nxdomain_responses_by_name_total).").Default("false").Bool()
			pendingMax := fs.Flag("pending-max", "Queries of all workloads followed to their response at once (the size of the kernel's pending-query table); a query sent while it is full is counted in dns_queries_untracked_total{reason=\"table_full\"}.").Default("65536").Int()
			perWorkload := fs.Flag("pending-per-workload", "Queries of one workload followed to their response at once: a workload that floods unanswered queries fills its own share, not the table; beyond it queries are counted in dns_queries_untracked_total{reason=\"workload_limit\"}.").Default("4096").Int()
			namesMax := fs.Flag("names.max", "Distinct queried names that --collector.dns.names counts under their own name; NXDOMAIN responses for further names are counted under name=\"__overflow__\". Workloads are capped by --collector.dns.max-series.").Default("100").Int()
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
				if *pendingMax < 1 || *pendingMax > maxPending {
					return fmt.Errorf("--collector.dns.pending-max: must be 1 to %d, got %d", maxPending, *pendingMax)
				}
				if *perWorkload < 1 || *perWorkload > *pendingMax {
					return fmt.Errorf("--collector.dns.pending-per-workload: must be 1 to --collector.dns.pending-max (%d), got %d", *pendingMax, *perWorkload)
				}
				o = Options{Ports: p, Timeout: *timeout, Names: *names, NamesMax: *namesMax,
					PendingMax: *pendingMax, PendingPerWorkload: *perWorkload}
				return nil
			})
			return func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
				return New(ctx, env, o)
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
	return ports, nil
}

// Options configures the collector.
type Options struct {
	Ports    []uint16
	Timeout  time.Duration
	Names    bool // count NXDOMAIN responses by name
	NamesMax int  // distinct names counted under their own name; 100 when 0
	// PendingMax is the size of the pending-query table; 65,536 when 0.
	PendingMax int
	// PendingPerWorkload is the share of the table one workload may hold;
	// 4,096 (or PendingMax, if smaller) when 0.
	PendingPerWorkload int
}

// maxPending bounds --collector.dns.pending-max: 4 Mi rows of 40 bytes,
// preallocated, are ~300 MiB of kernel memory.
const maxPending = 1 << 22

// Collector is the dns collector. Its Run reaps queries that waited longer
// than the timeout (they count as unanswered) and, with Options.Names,
// reads the NXDOMAIN names.
type Collector struct {
	objs    dnsObjects
	set     *bpfload.Set
	loader  *bpfload.Loader
	self    *selfmetrics.Metrics
	name    string // the collector label of self-metrics
	attr    *series.Attributor[uint64]
	timeout time.Duration
	names   *nameCounter // nil unless Options.Names
	// malformed is dns_packets_malformed_total's descriptor.
	malformed *prometheus.Desc

	mu         sync.Mutex
	unanswered map[unansweredKey]uint64
	// reaped is dns_reaped as this process last wrote it: per workload,
	// its queries reaped as unanswered.
	reaped map[uint64]uint64
}

type unansweredKey struct {
	cgroup uint64
	labels uint32
}

// New loads the programs and attaches them to the cgroup v2 root. It opens
// no ring-buffer reader and starts no goroutine: Run does. On error it has
// released everything it acquired.
func New(ctx context.Context, env exporter.Env, o Options) (*Collector, error) {
	loader, err := bpfload.FromEnv(ctx, env)
	if err != nil {
		return nil, err
	}
	resolver, err := workload.FromEnv(ctx, env)
	if err != nil {
		return nil, err
	}
	spec, err := loadDns()
	if err != nil {
		return nil, fmt.Errorf("reading dns BPF spec: %w", err)
	}
	if o.Names {
		if err := spec.Variables["capture_nxdomain_names"].Set(uint8(1)); err != nil {
			return nil, fmt.Errorf("turning name capture on: %w", err)
		}
	}
	if o.PendingMax == 0 {
		o.PendingMax = 65536
	}
	if o.PendingPerWorkload == 0 {
		o.PendingPerWorkload = min(4096, o.PendingMax)
	}
	spec.Maps["dns_pending"].MaxEntries = uint32(o.PendingMax)
	if err := spec.Variables[dnsVarDnsPortBits].Set(portBits(o.Ports)); err != nil {
		return nil, fmt.Errorf("setting the DNS ports: %w", err)
	}
	if err := spec.Variables["pending_per_workload"].Set(uint32(o.PendingPerWorkload)); err != nil {
		return nil, fmt.Errorf("setting the per-workload pending limit: %w", err)
	}
	c := &Collector{
		loader:     loader,
		self:       env.Self,
		name:       env.Name,
		attr:       series.New(series.Options[uint64]{Labeler: resolver, Self: env.Self, MaxSeries: env.MaxSeries, IsOverflow: maps.IsOverflow}),
		timeout:    o.Timeout,
		malformed:  packetsMalformed.Desc(),
		unanswered: make(map[unansweredKey]uint64),
		reaped:     make(map[uint64]uint64),
	}
	c.set, err = loader.Load(spec, &c.objs, bpfload.CgroupRoot(resolver.CgroupRoot()))
	if err != nil {
		return nil, err
	}
	if o.Names {
		if o.NamesMax == 0 {
			o.NamesMax = 100
		}
		c.names = newNameCounter(c.objs.DnsNames, o.NamesMax, env.Self, env.Name)
	}
	return c, nil
}

// portBits is dns_port_bits for ports: for each port, bit w%64 of word
// w/64 set, where w is the port as the packet carries it (network byte
// order, read as a host-order number).
func portBits(ports []uint16) *[1 << 16 / 64]uint64 {
	var bits [1 << 16 / 64]uint64
	for _, p := range ports {
		var be [2]byte
		binary.BigEndian.PutUint16(be[:], p)
		w := binary.NativeEndian.Uint16(be[:])
		bits[w/64] |= 1 << (w % 64)
	}
	return &bits
}

// Run implements exporter.Runner: it reaps unanswered queries several times
// per timeout and, with Options.Names, reads the NXDOMAIN names, until ctx
// is done.
func (c *Collector) Run(ctx context.Context) error {
	reaper := exporter.RunFunc(c.reapEvery)
	if c.names == nil {
		return reaper.Run(ctx)
	}
	return exporter.RunAll(reaper, c.names).Run(ctx)
}

// reapEvery reaps several times per timeout until ctx is done.
func (c *Collector) reapEvery(ctx context.Context) error {
	t := time.NewTicker(max(c.timeout/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if _, err := c.reap(); err != nil {
				return err
			}
		}
	}
}

// reap deletes pending queries older than the timeout and counts each one
// it deleted as unanswered (a response that raced it took it first), and
// tells the kernel how many of each workload's queries it reaped, which
// frees their share of the table. It returns how many queries are still
// pending.
func (c *Collector) reap() (int, error) {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return 0, err
	}
	now := uint64(ts.Nano())
	pending, err := maps.ReadHash[dnsPendingKey, dnsPendingQuery](c.objs.DnsPending)
	if err != nil {
		return 0, err
	}
	var stale []dnsPendingKey
	var queries []dnsPendingQuery
	for k, q := range pending {
		if now > q.Ts && time.Duration(now-q.Ts) > c.timeout {
			stale = append(stale, k)
			queries = append(queries, q)
		}
	}
	if len(stale) == 0 {
		return len(pending), nil
	}
	deleted, err := maps.DeleteEach(c.objs.DnsPending, stale)
	c.mu.Lock()
	defer c.mu.Unlock()
	changed := make(map[uint64]bool)
	for i, q := range queries {
		if !deleted[i] {
			continue // answered meanwhile
		}
		c.unanswered[unansweredKey{q.Cgroup, q.Labels}]++
		c.reaped[q.Cgroup]++
		changed[q.Cgroup] = true
	}
	for cg := range changed {
		if perr := c.objs.DnsReaped.Put(cg, c.reaped[cg]); perr != nil {
			err = errors.Join(err, fmt.Errorf("writing dns_reaped: %w", perr))
		}
	}
	return len(pending) - len(stale), err
}

var latencyOpts = histogram.Opts{
	Schema:  histogram.KernelSchema,
	Scale:   1e-9,
	Classic: histogram.ClassicPowersOfTwo(-17, 3), // ~7.6µs to 8s
}

// Update implements exporter.Collector.
func (c *Collector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	counts, countEntries, err := maps.ReadCountersFolded(c.objs.DnsCounts, c.objs.DnsCountsOverflow)
	if err != nil {
		return err
	}
	hists, histEntries, err := maps.ReadHistogramsFolded(c.objs.DnsLatency, c.objs.DnsLatencyOverflow)
	if err != nil {
		return err
	}
	pending, reapErr := c.reap()
	c.loader.MapEntries("dns_counts", c.objs.DnsCounts, countEntries)
	c.loader.MapEntries("dns_latency", c.objs.DnsLatency, histEntries)
	c.loader.MapEntries("dns_pending", c.objs.DnsPending, pending)

	s := c.attr.Begin(ctx)
	var errs []error
	for k, v := range counts {
		errs = append(errs, addCounter(s, k, v))
	}
	for k, v := range hists {
		qt, proto, fam, err := histLabels(k.Labels)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Histogram(responseLatency, k.ID, k.Bucket, v.Count, v.Sum, qt, proto, fam)
	}
	errs = append(errs, c.addUnanswered(s))
	if c.names != nil {
		c.names.add(s)
	}
	errs = append(errs, s.Emit(ch, latencyOpts), c.emitMalformed(ch),
		maps.ReportLost(c.self, c.name, c.objs.LostEvents), reapErr)
	gone := c.attr.Expired()
	errs = append(errs, c.forget(counts, hists, gone))
	return errors.Join(errs...)
}

// addCounter adds one dns_counts row to the scrape.
func addCounter(s *series.Scrape[uint64], k maps.CounterKey, v uint64) error {
	e, err := decodeEvent(k.Event)
	if err != nil {
		return err
	}
	switch e.kind {
	case dnsDnsKindDNS_QUERY:
		s.Counter(queriesTotal, k.ID, v, e.qtype, e.proto, e.fam)
	case dnsDnsKindDNS_RESPONSE:
		s.Counter(responsesTotal, k.ID, v, e.qtype, e.rcode, e.proto, e.fam)
	case dnsDnsKindDNS_TRUNCATED:
		s.Counter(responsesTruncated, k.ID, v, e.qtype, e.fam)
	case dnsDnsKindDNS_SUPERSEDED:
		s.Counter(queriesUnanswered, k.ID, v, e.qtype, e.proto, e.fam)
	case dnsDnsKindDNS_UNTRACKED_LIMIT:
		s.Counter(queriesUntracked, k.ID, v, e.qtype, e.proto, e.fam, "workload_limit")
	case dnsDnsKindDNS_UNTRACKED_FULL:
		s.Counter(queriesUntracked, k.ID, v, e.qtype, e.proto, e.fam, "table_full")
	}
	return nil
}

func (c *Collector) addUnanswered(s *series.Scrape[uint64]) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for k, v := range c.unanswered {
		qt, proto, fam, err := histLabels(k.labels)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Counter(queriesUnanswered, k.cgroup, v, qt, proto, fam)
	}
	return errors.Join(errs...)
}

func (c *Collector) emitMalformed(ch chan<- prometheus.Metric) error {
	totals, err := maps.ReadArray(c.objs.DnsMalformed, len(malformedReasons))
	if err != nil {
		return fmt.Errorf("reading malformed packets: %w", err)
	}
	for i, reason := range malformedReasons {
		ch <- prometheus.MustNewConstMetric(c.malformed, prometheus.CounterValue, float64(totals[i]), reason)
	}
	return nil
}

// forget drops the rows, unanswered counts and names of workloads gone
// past their grace period.
func (c *Collector) forget(counts map[maps.CounterKey]uint64, hists map[maps.HistKey]maps.HistValue, gone []uint64) error {
	if len(gone) == 0 {
		return nil
	}
	goneSet := make(map[uint64]bool, len(gone))
	for _, id := range gone {
		goneSet[id] = true
	}
	if c.names != nil {
		c.names.forget(goneSet)
	}
	c.mu.Lock()
	for k := range c.unanswered {
		if goneSet[k.cgroup] {
			delete(c.unanswered, k)
		}
	}
	for _, id := range gone {
		delete(c.reaped, id)
	}
	c.mu.Unlock()
	return errors.Join(
		maps.Delete(c.objs.DnsInflight, gone),
		maps.Delete(c.objs.DnsReaped, gone),
		maps.Reap(c.objs.DnsCounts, counts, gone, func(k maps.CounterKey) uint64 { return k.ID }),
		maps.Reap(c.objs.DnsLatency, hists, gone, func(k maps.HistKey) uint64 { return k.ID }))
}

// Close detaches the programs; the scaffold has stopped Run before.
func (c *Collector) Close() error {
	return c.set.Close()
}

// SizableMaps are the BPF maps --bpf.map-max-entries may size: the
// per-workload aggregation maps, which fold into the overflow series when
// full (the pending-query table has --collector.dns.pending-max).
func SizableMaps() []string { return []string{dnsMapDnsCounts, dnsMapDnsLatency} }
