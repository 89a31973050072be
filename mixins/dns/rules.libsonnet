local promql = import '../lib/promql.libsonnet';

{
  // The recording rules' names, for the alerts and dashboards that read
  // them.
  _records:: {
    latencyP99: 'instance_workload:dns_response_latency_seconds:p99_rate5m',
    rcodeRatio: 'instance_workload_rcode:dns_responses:ratio_rate5m',
    unansweredRatio: 'instance_workload:dns_queries_unanswered:ratio_rate5m',
  },

  prometheusRules+:: {
    local c = $._config,
    local sel = c.dnsSelector,
    local by = promql.byWorkload(c),
    groups+: [{
      name: 'dns-exporter.rules',
      rules: [
        {
          record: $._records.latencyP99,
          expr: promql.quantile('0.99', 'dns_response_latency_seconds', sel, by, '5m'),
        },
        {
          record: $._records.rcodeRatio,
          expr: |||
            sum by (%(by)s, rcode) (rate(dns_responses_total{%(sel)s}[5m]))
            / ignoring (rcode) group_left
            sum by (%(by)s) (rate(dns_responses_total{%(sel)s}[5m]))
          ||| % { by: by, sel: sel },
        },
        {
          record: $._records.unansweredRatio,
          expr: |||
            sum by (%(by)s) (rate(dns_queries_unanswered_total{%(sel)s}[5m]))
            /
            sum by (%(by)s) (rate(dns_queries_total{%(sel)s}[5m]))
          ||| % { by: by, sel: sel },
        },
      ],
    }],
  },
}
