local alerts = import '../lib/alerts.libsonnet';
local exporter = import '../lib/exporter.libsonnet';
local promql = import '../lib/promql.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local sel = c.dnsSelector,
    local byPod = promql.byPod(c),
    local byJob = promql.byJob(c),
    local rule(name, expr, forDuration, summary, description) =
      alerts.alert(name, expr, forDuration, 'warning', summary, description, c),

    // condition(value, volume, threshold, floor) returns an alert
    // expression that fires once per cluster and job where value (a
    // function of the grouping) over the whole cluster exceeds threshold,
    // and else per pod (or node) where it does for the pod alone; volume
    // (a function of the grouping) is the traffic that must reach floor
    // for either to count.
    local condition(value, volume, threshold, floor) =
      local at(by) = promql.atLeast('%s > %g' % [value(by), threshold], volume(by), by, floor);
      '(\n%(cluster)s\n)\nor\n(\n(\n%(pod)s\n)\nunless on (%(byJob)s)\n(\n%(cluster)s\n)\n)' % {
        cluster: at(byJob),
        pod: at(byPod),
        byJob: byJob,
      },
    local rate(metric, by, extra='') =
      'sum by (%s) (rate(%s{%s%s}[5m]))' % [by, metric, sel, extra],
    // who names an alert's pod or node, or its whole cluster.
    local who = '{{ if $labels.instance }}%s on %s{{ else }}the workloads of job {{ $labels.job }}%s together{{ end }}' % [alerts.workload, alerts.where(c), alerts.inCluster(c)],

    groups+: [{
      name: 'dns-exporter',
      rules: exporter.alerts(c),
    }, {
      name: 'dns-workloads',
      rules: [
        rule(
          'DNSServfailRatioHigh',
          condition(
            function(by) '%s\n/\n%s' % [rate('dns_responses_total', by, ', rcode="SERVFAIL"'), rate('dns_responses_total', by)],
            function(by) rate('dns_responses_total', by),
            c.servfailRatioThreshold,
            c.servfailMinResponsesRate,
          ),
          c.servfailFor,
          'DNS servers answer workloads with SERVFAIL.',
          '{{ $value | humanizePercentage }} of the DNS responses to %s are SERVFAIL (threshold %g%%): a resolver or an upstream server is failing.' % [who, c.servfailRatioThreshold * 100],
        ),
        rule(
          'DNSLatencyHigh',
          condition(
            function(by) promql.quantile('0.99', 'dns_response_latency_seconds', sel, by, '5m'),
            function(by) promql.count('dns_response_latency_seconds', sel, by, '5m'),
            c.latencyThreshold,
            c.latencyMinResponsesRate,
          ),
          c.latencyFor,
          'DNS responses to workloads are slow.',
          'The p99 DNS response latency of %s is {{ $value | humanizeDuration }} (threshold %gs).' % [who, c.latencyThreshold],
        ),
        rule(
          'DNSQueriesUnanswered',
          condition(
            function(by) '%s\n/\n%s' % [rate('dns_queries_unanswered_total', by), rate('dns_queries_total', by)],
            function(by) rate('dns_queries_total', by),
            c.unansweredRatioThreshold,
            c.unansweredMinQueriesRate,
          ),
          c.unansweredFor,
          'DNS queries of workloads go unanswered.',
          '{{ $value | humanizePercentage }} of the DNS queries of %s get no response (threshold %g%%): a DNS server is unreachable, overloaded or dropping queries.' % [who, c.unansweredRatioThreshold * 100],
        ),
      ],
    }],
  },
}
