(import '../lib/config.libsonnet') + {
  _config+:: {
    // Selects cni_exporter's series in rules and alerts, and its jobs in
    // the dashboards' job variable.
    cniSelector: 'job="cni-exporter"',
    // The exporter, for its health alerts and the dashboards' Exporter row
    // (lib/exporter.libsonnet): the namespace of its metrics, the start of
    // its alerts' names, and the selector of its series.
    namespace: 'cni',
    alertPrefix: 'CNI',
    selector: self.cniSelector,
    // Each alert's runbook_url is this page and the alert's name, lower
    // case, as the anchor.
    runbookURLBase: 'https://github.com/bpfleet/bpfleet/blob/main/mixins/cni/runbook.md',
    dashboardTags: ['cni'],

    // Exporter health.
    programDetachedFor: '10m',
    collectorFailingFor: '15m',
    eventsLostFor: '15m',

    // Share of a plugin's ADDs that fail, over 5 minutes. A failed ADD is a
    // pod sandbox without a network, which the kubelet retries.
    addFailureRatioThreshold: 0.1,
    addFailuresFor: '10m',

    // p99 of a plugin's ADD duration, over 5 minutes. A chained plugin's
    // ADD includes its IPAM plugin's.
    addLatencyThreshold: 2,
    addLatencyFor: '15m',
    // Both ADD alerts count only a plugin on a node that had at least this
    // many ADD calls in the 5 minutes: one failed ADD among two is not a
    // failing plugin yet.
    addFailureMinCalls: 3,
    addLatencyMinCalls: 3,

    // Share of an IPAM range's addresses that are allocated; at 100% the
    // node's next pod gets no address.
    ipamUsageThreshold: 0.9,
    ipamUsageFor: '15m',
  },
}
