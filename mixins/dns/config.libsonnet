{
  _config+:: {
    // Selects dns_exporter's series in rules and alerts, and its jobs in
    // the dashboards' job variable.
    dnsSelector: 'job="dns-exporter"',
    // The exporter, for its health alerts and the dashboards' Exporter row
    // (lib/exporter.libsonnet): the namespace of its metrics, the start of
    // its alerts' names, and the selector of its series.
    namespace: 'dns',
    alertPrefix: 'DNS',
    selector: self.dnsSelector,
    // Each alert's runbook_url is this page and the alert's name, lower
    // case, as the anchor.
    runbookURLBase: 'https://github.com/bpfleet/bpfleet/blob/main/mixins/dns/runbook.md',
    dashboardTags: ['dns'],

    // Exporter health.
    programDetachedFor: '10m',
    collectorFailingFor: '15m',
    eventsLostFor: '15m',

    // Share of a workload's responses that are SERVFAIL, over 5 minutes.
    servfailRatioThreshold: 0.05,
    servfailFor: '10m',

    // p99 of a workload's DNS response latency, over 5 minutes.
    latencyThreshold: 0.5,
    latencyFor: '10m',

    // Share of a workload's queries that got no response within the
    // exporter's --collector.dns.timeout, over 5 minutes.
    unansweredRatioThreshold: 0.01,
    unansweredFor: '5m',
  },
}
