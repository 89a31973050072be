package collector

import (
	"context"
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/maps"
)

// tcpFamilies names enum tcp_family, the low bit of an event and a
// histogram's labels.
var tcpFamilies = []string{"ipv4", "ipv6"}

var (
	tcpConnectionsDesc     = workloadDesc("tcp_connections_total", "TCP connections established by the workload: outbound (connect) or inbound (accepted by its listeners).", "family", "direction")
	tcpConnectFailuresDesc = workloadDesc("tcp_connect_failures_total", "Outbound TCP connects of the workload that failed (SYN_SENT to CLOSE: refused, timed out, unreachable).", "family")
	tcpConnectLatencyDesc  = workloadDesc("tcp_connect_latency_seconds", "Time from an outbound TCP connect's SYN to ESTABLISHED.", "family")
	tcpRetransmitsDesc     = workloadDesc("tcp_retransmits_total", "TCP segments retransmitted by sockets of the workload (as the kernel's RetransSegs).", "family")
	tcpResetsDesc          = workloadDesc("tcp_resets_total", "TCP resets sent or received by sockets of the workload; resets sent for segments that matched no socket have empty workload labels.", "family", "direction")
)

// tcpCollector counts TCP connections, failures, retransmits and resets and
// measures connect latency per workload (bpf/kernel/tcp.bpf.c).
type tcpCollector struct {
	bpfCollector
	objs    tcpObjects
	events  map[uint32]counterEvent
	latency *prometheus.Desc
}

func newTCP(_ context.Context, env exporter.Env) (exporter.Collector, error) {
	conns, failures, retrans, resets := tcpConnectionsDesc, tcpConnectFailuresDesc, tcpRetransmitsDesc, tcpResetsDesc
	c := &tcpCollector{latency: tcpConnectLatencyDesc, events: make(map[uint32]counterEvent)}
	kinds := []counterEvent{ // enum tcp_kind order
		{conns, "kernel_tcp_connections_total", []string{"outbound"}},
		{conns, "kernel_tcp_connections_total", []string{"inbound"}},
		{failures, "kernel_tcp_connect_failures_total", nil},
		{retrans, "kernel_tcp_retransmits_total", nil},
		{resets, "kernel_tcp_resets_total", []string{"sent"}},
		{resets, "kernel_tcp_resets_total", []string{"received"}},
	}
	for kind, ev := range kinds {
		for family, name := range tcpFamilies {
			extra := append([]string{name}, ev.extra...)
			c.events[uint32(kind<<1|family)] = counterEvent{ev.desc, ev.metric, extra}
		}
	}
	var err error
	c.bpfCollector, err = loadCollector("tcp", env, loadTcp, &c.objs)
	if err != nil {
		return nil, err
	}
	c.lost = c.objs.LostEvents
	return c, nil
}

func (c *tcpCollector) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	counts, err := maps.ReadCounters(c.objs.TcpCounts)
	if err != nil {
		return err
	}
	hists, err := maps.ReadHistograms(c.objs.TcpConnectLatency)
	if err != nil {
		return err
	}
	c.reportFill(c.objs.TcpCounts, "tcp_counts", len(counts))
	c.reportFill(c.objs.TcpConnectLatency, "tcp_connect_latency", len(hists))
	s := c.attr.Begin(ctx)
	err = emitCounters(s, counts, c.events)
	for k, v := range hists {
		if int(k.Labels) >= len(tcpFamilies) {
			err = errors.Join(err, fmt.Errorf("unknown family %d in tcp_connect_latency", k.Labels))
			continue
		}
		s.Histogram(c.latency, "kernel_tcp_connect_latency_seconds", k.ID, k.Bucket, v.Count, v.Sum, tcpFamilies[k.Labels])
	}
	gone := c.attr.Expired()
	return errors.Join(err, s.Emit(ch, latencyOpts), c.reportLost(),
		reapCounters(c.objs.TcpCounts, counts, gone), reapHistograms(c.objs.TcpConnectLatency, hists, gone))
}
