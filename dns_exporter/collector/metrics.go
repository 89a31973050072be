package collector

import (
	"github.com/bpfleet/bpfleet/internal/catalog"
	"github.com/bpfleet/bpfleet/internal/workload"
)

// metrics is dns_exporter's metric table: every metric it serves, once.
var metrics catalog.Catalog

// Catalog returns every metric of dns_exporter's collectors.
func Catalog() *catalog.Catalog { return &metrics }

var (
	queriesTotal = metrics.Add(catalog.Metric{
		Name:      "dns_queries_total",
		Help:      "DNS queries sent by the workload.",
		Type:      catalog.Counter,
		Collector: "dns",
		Key:       workload.LabelNames,
		Labels:    []string{"qtype", "protocol", "family"},
	})
	responsesTotal = metrics.Add(catalog.Metric{
		Name:      "dns_responses_total",
		Help:      "DNS responses received by the workload, by response code.",
		Type:      catalog.Counter,
		Collector: "dns",
		Key:       workload.LabelNames,
		Labels:    []string{"qtype", "rcode", "protocol", "family"},
	})
	responseLatency = metrics.Add(catalog.Metric{
		Name:      "dns_response_latency_seconds",
		Help:      "Time from a DNS query leaving the workload's socket to its response arriving.",
		Type:      catalog.Histogram,
		Collector: "dns",
		Key:       workload.LabelNames,
		Labels:    []string{"qtype", "protocol", "family"},
	})
	queriesUnanswered = metrics.Add(catalog.Metric{
		Name:      "dns_queries_unanswered_total",
		Help:      "DNS queries of the workload that got no response within --collector.dns.timeout, or whose socket sent another query with the same id before their response.",
		Type:      catalog.Counter,
		Collector: "dns",
		Key:       workload.LabelNames,
		Labels:    []string{"qtype", "protocol", "family"},
	})
	queriesUntracked = metrics.Add(catalog.Metric{
		Name:      "dns_queries_untracked_total",
		Help:      "DNS queries of the workload not followed to their response (no latency sample, never counted as unanswered): reason=\"workload_limit\" when the workload already had --collector.dns.pending-per-workload queries waiting for a response, \"table_full\" when all workloads together had --collector.dns.pending-max.",
		Type:      catalog.Counter,
		Collector: "dns",
		Key:       workload.LabelNames,
		Labels:    []string{"qtype", "protocol", "family", "reason"},
	})
	responsesTruncated = metrics.Add(catalog.Metric{
		Name:      "dns_responses_truncated_total",
		Help:      "DNS responses over UDP with the TC bit set (the client has to retry over TCP).",
		Type:      catalog.Counter,
		Collector: "dns",
		Key:       workload.LabelNames,
		Labels:    []string{"qtype", "family"},
	})
	packetsMalformed = metrics.Add(catalog.Metric{
		Name:      "dns_packets_malformed_total",
		Help:      "UDP DNS packets to or from a DNS port that could not be parsed, by reason.",
		Type:      catalog.Counter,
		Collector: "dns",
		Labels:    []string{"reason"},
	})
	nxdomainByName = metrics.Add(catalog.Metric{
		Name:      "dns_nxdomain_responses_by_name_total",
		Help:      "NXDOMAIN responses received by the workload, by queried name (--collector.dns.names; names beyond the first --collector.dns.names.max are counted under name=\"__overflow__\").",
		Type:      catalog.Counter,
		Collector: "dns",
		Key:       workload.LabelNames,
		Labels:    []string{"name"},
	})
)
