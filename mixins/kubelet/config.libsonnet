(import '../lib/config.libsonnet') + {
  _config+:: {
    // Selects kubelet_exporter's series in rules and alerts, and its jobs
    // in the dashboards' job variable.
    kubeletSelector: 'job="kubelet-exporter"',
    // The exporter, for its down alert (lib/exporter.libsonnet): the
    // namespace of its metrics, its program, the start of its alerts'
    // names, and the selector of its series.
    namespace: 'kubelet_summary',
    binary: 'kubelet_exporter',
    alertPrefix: 'Kubelet',
    selector: self.kubeletSelector,
    // Each alert's runbook_url is this page and the alert's name, lower
    // case, as the anchor.
    runbookURLBase: 'https://github.com/bpfleet/bpfleet/blob/main/mixins/kubelet/runbook.md',
    dashboardTags: ['kubelet'],

    // The kubelet's Summary API does not answer the exporter (the summary
    // collector fails: unreachable, 401/403, garbage).
    summaryUnreachableFor: '10m',

    // A pod uses more than this share of its ephemeral-storage limit: the
    // kubelet evicts it at 100%.
    ephemeralStorageRatioThreshold: 0.85,
    ephemeralStorageFor: '5m',

    // The kubelet's hard eviction thresholds, as in its configuration
    // (evictionHard): bytes (or processes, inodes) for an absolute one,
    // ratio of the filesystem's capacity for a percentage (bytes signals
    // only: the exporter serves no inode capacity). These are the
    // kubelet's defaults; set yours. A signal left out is not watched.
    evictionThresholds: {
      'memory.available': { value: 100 * 1024 * 1024 },
      'nodefs.available': { ratio: 0.10, fs: 'nodefs' },
      'imagefs.available': { ratio: 0.15, fs: 'imagefs' },
    },
    // KubeletNodeNearEviction fires while a signal is below this many
    // times its threshold (1 is the threshold itself: pods are being
    // evicted).
    evictionMargin: 1.5,
    nearEvictionFor: '5m',
  },
}
