(import '../lib/config.libsonnet') + {
  _config+:: {
    // Selects kernel_exporter's series in rules and alerts, and its jobs in
    // the dashboards' job variable.
    kernelSelector: 'job="kernel-exporter"',
    // The exporter, for its health alerts and the dashboards' Exporter row
    // (lib/exporter.libsonnet): the namespace of its metrics, the start of
    // its alerts' names, and the selector of its series.
    namespace: 'kernel',
    alertPrefix: 'Kernel',
    selector: self.kernelSelector,
    // Each alert's runbook_url is this page and the alert's name, lower
    // case, as the anchor.
    runbookURLBase: 'https://github.com/bpfleet/bpfleet/blob/main/mixins/kernel/runbook.md',
    dashboardTags: ['kernel'],

    // Exporter health.
    programDetachedFor: '10m',
    collectorFailingFor: '15m',
    eventsLostFor: '15m',

    // A pod (or a node's processes outside pods) lost a process to the OOM
    // killer in the last oomKillWindow.
    oomKillWindow: '10m',
    oomKilledFor: '1m',

    // Segments per second a pod (or a node's processes outside pods)
    // retransmits, over 5 minutes.
    tcpRetransmitsThreshold: 10,
    tcpRetransmitsFor: '15m',

    // p99 of the time a pod's runnable threads wait for a CPU.
    runqueueLatencyThreshold: 0.05,
    runqueueLatencyFor: '15m',
    // ... of pods (or nodes' processes outside pods) whose threads are
    // scheduled at least this often per second: a p99 of a few wake-ups
    // means nothing.
    runqueueLatencyMinRate: 1,

    // p99 of block request latency, for the operations that
    // blockIOLatencyOperations matches (flushes and discards are slow by
    // nature).
    blockIOLatencyThreshold: 0.5,
    blockIOLatencyOperations: 'read|write',
    blockIOLatencyFor: '15m',
    // ... of devices that complete at least this many such requests per
    // second.
    blockIOLatencyMinRate: 1,
  },
}
