local g = import '../lib/dashboard.libsonnet';
local exporter = import '../lib/exporter.libsonnet';
local promql = import '../lib/promql.libsonnet';

local byWorkload = 'instance, cgroup, namespace, pod, container';
local legend = '{{namespace}}/{{pod}}/{{container}} {{cgroup}} on {{instance}}';

// Response codes that mean the query failed; NXDOMAIN is an answer (and
// common: search-domain expansion produces many).
local failed = 'rcode!~"NOERROR|NXDOMAIN"';

// latency is p50, p90 and p99 of the response latency from the native
// histogram or the classic buckets, over the selected workloads.
local latency(workload, native) = [
  g.target(
    if native then
      'histogram_quantile(%s, sum(rate(dns_response_latency_seconds{%s}[$__rate_interval])))' % [q, workload]
    else
      'histogram_quantile(%s, sum by (le) (rate(dns_response_latency_seconds_bucket{%s}[$__rate_interval])))' % [q, workload],
    'p' + std.strReplace(q, '0.', ''),
  )
  for q in ['0.5', '0.9', '0.99']
];

local dashboard(c, r) =
  local node = g.nodeSelector(c);
  local workload = g.workloadSelector(c);
  g.dashboard(
    c,
    'DNS / Overview',
    'bpfleet-dns-overview',
    'DNS queries, responses by code, latency, unanswered and truncated queries of the workloads on the chosen nodes, seen by dns_exporter.',
    c.dashboardTags,
    g.workloadVariables(c, 'dns_exporter_build_info', c.dnsSelector, '__name__="dns_queries_total"'),
    [
      g.row('Traffic', [
        g.timeseries('Queries by type', 'DNS queries sent per second by query type (dns_queries_total).', 'reqps', [
          g.target('sum by (qtype) (rate(dns_queries_total{%s}[$__rate_interval]))' % workload, '{{qtype}}'),
        ], stack=true),
        g.timeseries('Responses by code', 'DNS responses received per second by response code (dns_responses_total).', 'reqps', [
          g.target('sum by (rcode) (rate(dns_responses_total{%s}[$__rate_interval]))' % workload, '{{rcode}}'),
        ], stack=true),
        g.timeseries('Response code share', 'Share of DNS responses with each response code (dns_responses_total).', 'percentunit', [
          g.target('sum by (rcode) (rate(dns_responses_total{%s}[$__rate_interval]))\n/ ignoring (rcode) group_left\nsum(rate(dns_responses_total{%s}[$__rate_interval]))' % [workload, workload], '{{rcode}}'),
        ], stack=true),
        g.timeseries('Queries by protocol and family', 'DNS queries sent per second over UDP and TCP, IPv4 and IPv6 (dns_queries_total).', 'reqps', [
          g.target('sum by (protocol, family) (rate(dns_queries_total{%s}[$__rate_interval]))' % workload, '{{protocol}} {{family}}'),
        ]),
      ]),
      g.row('Latency', [
        g.timeseries('Latency (native histogram)', 'p50, p90 and p99 of the time from a query leaving a socket to its response arriving, from the native histogram dns_response_latency_seconds. Needs a Prometheus that ingests native histograms (2.x: --enable-feature=native-histograms; 3.x: scrape_native_histograms: true); empty otherwise.', 's', latency(workload, true)),
        g.timeseries('Latency (classic buckets)', 'p50, p90 and p99 of the time from a query leaving a socket to its response arriving, from the classic buckets dns_response_latency_seconds_bucket (powers of two from 2^-17 s to 8 s). Empty on a Prometheus that ingests native histograms (2.x with the feature flag, 3.x with scrape_native_histograms), which then stores no classic buckets unless told to (3.x: always_scrape_classic_histograms).', 's', latency(workload, false)),
        g.heatmap('Latency distribution', 'Time from a query leaving a socket to its response arriving, over the chosen workloads: responses per second in each latency bucket (dns_response_latency_seconds, the native histogram where Prometheus ingests it, else the classic buckets).', 's', g.target(promql.heatmap('dns_response_latency_seconds', workload, '$__rate_interval'))),
        g.timeseries('Latency p99 by workload', 'p99 DNS response latency over 5 minutes of the 10 slowest workloads (recording rule %s).' % r.latencyP99, 's', [
          g.target('topk(10, %s{%s})' % [r.latencyP99, workload], legend),
        ]),
      ]),
      g.row('Failures', [
        g.timeseries('Unanswered queries', "Queries per second that got no response within the exporter's --collector.dns.timeout, by query type (dns_queries_unanswered_total).", 'reqps', [
          g.target('sum by (qtype) (rate(dns_queries_unanswered_total{%s}[$__rate_interval]))' % workload, '{{qtype}}'),
        ]),
        g.timeseries('Truncated responses', 'UDP responses per second with the TC bit set, which make the client retry over TCP (dns_responses_truncated_total).', 'reqps', [
          g.target('sum by (qtype, family) (rate(dns_responses_truncated_total{%s}[$__rate_interval]))' % workload, '{{qtype}} {{family}}'),
        ]),
        g.timeseries('Malformed packets', 'UDP DNS packets per second that could not be parsed, by reason (dns_packets_malformed_total). Not attributed to workloads.', 'pps', [
          g.target('sum by (reason) (rate(dns_packets_malformed_total{%s}[$__rate_interval]))' % node, '{{reason}}'),
        ]),
      ]),
      g.row('Workloads', [
        g.timeseries('Top workloads by failed queries', 'Queries per second of the 10 worst workloads that failed: responses other than NOERROR and NXDOMAIN, plus unanswered queries (dns_responses_total, dns_queries_unanswered_total).', 'reqps', [
          g.target('topk(10, sum by (%s) (rate({__name__=~"dns_responses_total|dns_queries_unanswered_total", %s, %s}[$__rate_interval])))' % [byWorkload, workload, failed], legend),
        ]),
        g.timeseries('SERVFAIL share by workload', 'Share of responses that are SERVFAIL over 5 minutes, of the 10 worst workloads (recording rule %s).' % r.rcodeRatio, 'percentunit', [
          g.target('topk(10, %s{%s, rcode="SERVFAIL"})' % [r.rcodeRatio, workload], legend),
        ]),
        g.timeseries('Unanswered share by workload', 'Share of queries that got no response over 5 minutes, of the 10 worst workloads (recording rule %s).' % r.unansweredRatio, 'percentunit', [
          g.target('topk(10, %s{%s})' % [r.unansweredRatio, workload], legend),
        ]),
        g.timeseries('Top workloads by NXDOMAIN', 'NXDOMAIN responses per second of the 10 workloads that get the most (dns_responses_total).', 'reqps', [
          g.target('topk(10, sum by (%s) (rate(dns_responses_total{%s, rcode="NXDOMAIN"}[$__rate_interval])))' % [byWorkload, workload], legend),
        ]),
        g.table('Top NXDOMAIN names', 'The 10 queried names that got the most NXDOMAIN responses per second (dns_nxdomain_responses_by_name_total). Only when the exporter runs with --collector.dns.names.', 'reqps', [
          g.target('topk(10, sum by (name) (rate(dns_nxdomain_responses_by_name_total{%s}[$__rate_interval])))' % workload),
        ]),
      ]),
      exporter.row(c, node, {
        eventsLost: 'A full pending-query map loses latency samples (start_full), a full counter map series (map_full).',
        maps: 'dns_pending holds queries waiting for a response.',
      }),
    ],
  );

{
  grafanaDashboards+:: {
    'dns-overview.json': dashboard($._config, $._records),
  },
}
