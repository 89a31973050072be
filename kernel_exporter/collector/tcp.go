package collector

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/maps"
)

// tcpFamilies names the counted values of enum tcp_family, in the low
// bits of an event and in a histogram's labels (EV_TCP_FAMILY_OTHER is
// never counted).
var tcpFamilies = map[tcpTcpFamily]string{
	tcpTcpFamilyEV_TCP_FAMILY_IPV4: "ipv4",
	tcpTcpFamilyEV_TCP_FAMILY_IPV6: "ipv6",
}

// tcpKinds names enum tcp_kind: a metric and its labels after family.
var tcpKinds = map[tcpTcpKind]counterEvent{
	tcpTcpKindEV_TCP_CONNECT_OUTBOUND: {tcpConnections, []string{"outbound"}},
	tcpTcpKindEV_TCP_CONNECT_INBOUND:  {tcpConnections, []string{"inbound"}},
	tcpTcpKindEV_TCP_CONNECT_FAILURE:  {tcpConnectFailures, nil},
	tcpTcpKindEV_TCP_RETRANSMIT:       {tcpRetransmits, nil},
	tcpTcpKindEV_TCP_RESET_SENT:       {tcpResets, []string{"sent"}},
	tcpTcpKindEV_TCP_RESET_RECEIVED:   {tcpResets, []string{"received"}},
}

// tcpEvent is counter_key.event of kind and family, as tcp.bpf.c's
// tcp_event encodes it: kind << TCP_EVENT_FAMILY_BITS | family, also the
// index of the event's counter in a tcp_counts row (tcpTcpCountsValue).
func tcpEvent(kind tcpTcpKind, family tcpTcpFamily) uint32 {
	return uint32(kind)<<uint32(tcpTcpEventLayoutTCP_EVENT_FAMILY_BITS) | uint32(family)
}

// tcpEvents names every counter event of tcp.bpf.c: each kind in each
// counted family.
var tcpEvents = func() map[uint32]counterEvent {
	events := make(map[uint32]counterEvent, len(tcpKinds)*len(tcpFamilies))
	for kind, ev := range tcpKinds {
		for family, name := range tcpFamilies {
			events[tcpEvent(kind, family)] = counterEvent{ev.metric, append([]string{name}, ev.extra...)}
		}
	}
	return events
}()

// tcpCollector counts TCP connections, failures, retransmits and resets and
// measures connect latency per workload (bpf/kernel/tcp.bpf.c).
type tcpCollector struct {
	bpfCollector
	objs tcpObjects
}

func newTCP(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
	c := &tcpCollector{}
	var err error
	c.bpfCollector, err = loadWorkloadCollector(ctx, env, loadTcp, &c.objs)
	if err != nil {
		return nil, err
	}
	c.lost = c.objs.LostEvents
	return c, nil
}

// tcpCounters returns a tcp_counts row's counters, indexed by tcpEvent.
func tcpCounters(v *tcpTcpCountsValue) []uint64 { return v.N[:] }

// Update serves the counters of tcp_counts, which keeps one row per
// workload holding all its counters (maps.ReadWorkloadCountersFolded), and
// its overflow companion, and the connect latency histograms.
func (c *tcpCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	rows, counts, err := maps.ReadWorkloadCountersFolded(c.objs.TcpCounts, c.objs.TcpCountsOverflow, tcpCounters)
	if err != nil {
		return err
	}
	hists, histEntries, err := maps.ReadHistogramsFolded(c.objs.TcpConnectLatency, c.objs.TcpConnectLatencyOverflow)
	if err != nil {
		return err
	}
	c.loader.MapEntries(tcpMapTcpCounts, c.objs.TcpCounts, len(counts))
	c.loader.MapEntries(tcpMapTcpConnectLatency, c.objs.TcpConnectLatency, histEntries)
	s := c.attr.Begin(ctx)
	err = emitCounters(s, rows, tcpEvents)
	for k, v := range hists {
		family, ok := tcpFamilies[tcpTcpFamily(k.Labels)]
		if !ok {
			err = errors.Join(err, fmt.Errorf("unknown family %d in %s", k.Labels, tcpMapTcpConnectLatency))
			continue
		}
		s.Histogram(tcpConnectLatency, k.ID, k.Bucket, v.Count, v.Sum, family)
	}
	gone := c.attr.Expired()
	return errors.Join(err, s.Emit(ch, latencyOpts), c.reportLost(),
		maps.Reap(c.objs.TcpCounts, counts, gone, rowID),
		maps.Reap(c.objs.TcpConnectLatency, hists, gone, histID))
}
