(import '../lib/config.libsonnet') + {
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

    // The DNS alerts fire once for a whole cluster (per job) when its
    // workloads together cross the threshold: one DNS outage, one alert.
    // Otherwise they fire per pod (or per node for processes outside pods)
    // that crosses it alone. Each counts only where the traffic is at
    // least its floor (responses or queries per second, over 5 minutes),
    // so that a pod sending a query a minute does not flap.

    // Share of responses that are SERVFAIL, over 5 minutes.
    servfailRatioThreshold: 0.05,
    servfailMinResponsesRate: 0.1,
    servfailFor: '10m',

    // p99 of the DNS response latency, over 5 minutes.
    latencyThreshold: 0.5,
    latencyMinResponsesRate: 0.1,
    latencyFor: '10m',

    // Share of queries that got no response within the exporter's
    // --collector.dns.timeout, over 5 minutes.
    unansweredRatioThreshold: 0.01,
    unansweredMinQueriesRate: 0.1,
    unansweredFor: '5m',
  },
}
