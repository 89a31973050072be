local alerts = import '../lib/alerts.libsonnet';
local exporter = import '../lib/exporter.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local sel = c.dnsSelector,
    local rule(name, expr, forDuration, summary, description) =
      alerts.alert(name, expr, forDuration, 'warning', summary, description, c.runbookURLBase),
    groups+: [{
      name: 'dns-exporter',
      rules: exporter.alerts(c),
    }, {
      name: 'dns-workloads',
      rules: [
        rule(
          'DNSServfailRatioHigh',
          '%s{%s, rcode="SERVFAIL"} > %g' % [$._records.rcodeRatio, sel, c.servfailRatioThreshold],
          c.servfailFor,
          'DNS servers answer a workload with SERVFAIL.',
          '{{ $value | humanizePercentage }} of the DNS responses that %s on {{ $labels.instance }} receives are SERVFAIL (threshold %g%%): its resolver or an upstream server is failing.' % [alerts.workload, c.servfailRatioThreshold * 100],
        ),
        rule(
          'DNSLatencyHigh',
          '%s{%s} > %g' % [$._records.latencyP99, sel, c.latencyThreshold],
          c.latencyFor,
          'DNS responses to a workload are slow.',
          'The p99 DNS response latency of %s on {{ $labels.instance }} is {{ $value | humanizeDuration }} (threshold %gs).' % [alerts.workload, c.latencyThreshold],
        ),
        rule(
          'DNSQueriesUnanswered',
          '%s{%s} > %g' % [$._records.unansweredRatio, sel, c.unansweredRatioThreshold],
          c.unansweredFor,
          'DNS queries of a workload go unanswered.',
          '{{ $value | humanizePercentage }} of the DNS queries of %s on {{ $labels.instance }} get no response (threshold %g%%): its DNS server is unreachable, overloaded or dropping queries.' % [alerts.workload, c.unansweredRatioThreshold * 100],
        ),
      ],
    }],
  },
}
