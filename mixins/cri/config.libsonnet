(import '../lib/config.libsonnet') + {
  _config+:: {
    // Selects cri_exporter's series in rules and alerts, and its jobs in
    // the dashboards' job variable.
    criSelector: 'job="cri-exporter"',
    // The exporter, for its health alerts and the dashboards' Exporter row
    // (lib/exporter.libsonnet): the namespace of its metrics, the start of
    // its alerts' names, and the selector of its series.
    namespace: 'cri',
    alertPrefix: 'CRI',
    selector: self.criSelector,
    // Each alert's runbook_url is this page and the alert's name, lower
    // case, as the anchor.
    runbookURLBase: 'https://github.com/bpfleet/bpfleet/blob/main/mixins/cri/runbook.md',
    dashboardTags: ['cri'],

    // Exporter health. A cri collector that fails is the runtime not
    // answering, which CRIRuntimeUnreachable reports instead.
    programDetachedFor: '10m',
    collectorFailingFor: '15m',
    eventsLostFor: '15m',

    // The runtime does not answer on its CRI socket.
    runtimeUnreachableFor: '5m',

    // The runtime reports one of these conditions false: without
    // RuntimeReady it runs no containers, without NetworkReady (its CNI
    // configuration) no new pods; the kubelet marks the node NotReady.
    runtimeConditions: 'RuntimeReady|NetworkReady',
    runtimeNotReadyFor: '5m',

    // A container lost a process to the OOM killer in the last
    // oomKillWindow.
    oomKillWindow: '10m',
    oomKilledFor: '1m',
  },
}
