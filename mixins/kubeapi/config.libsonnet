(import '../lib/config.libsonnet') + {
  _config+:: {
    // Selects kubeapi_exporter's series in rules and alerts, and its jobs
    // in the dashboards' job variable. With shards, every replica has the
    // same job: the rules and alerts sum over instances.
    kubeapiSelector: 'job="kubeapi-exporter"',
    namespace: 'kubeapi',
    alertPrefix: 'KubeAPI',
    selector: self.kubeapiSelector,
    runbookURLBase: 'https://github.com/bpfleet/bpfleet/blob/main/mixins/kubeapi/runbook.md',
    dashboardTags: ['kubeapi'],

    // Exporter health (lib/exporter.libsonnet); kubeapi_exporter loads no
    // BPF program and loses no events, so only CollectorFailing is used.
    programDetachedFor: '10m',
    collectorFailingFor: '15m',
    eventsLostFor: '15m',

    // p99 of the time from a Pod's creation to Ready, over 10 minutes, per
    // namespace.
    podStartupSlowSeconds: 120,
    podStartupSlowFor: '15m',
    // ... of namespaces where at least this many Pods became Ready in the
    // 10 minutes: the p99 of one or two starts is not a trend.
    podStartupMinPods: 3,

    // More containers in CrashLoopBackOff in a namespace than
    // crashLoopWindow ago, by at least crashLoopRise.
    crashLoopWindow: '15m',
    crashLoopRise: 3,
    crashLoopRisingFor: '5m',

    // OOMKilled terminations in a namespace within oomWindow.
    oomWindow: '10m',
    oomSurge: 5,
    oomSurgeFor: '1m',

    // One field manager updating one resource faster than this, per
    // second, over writeLoopWindow.
    writeLoopRate: 5,
    writeLoopWindow: '10m',
    writeLoopFor: '30m',

    // Watch restarts other than server timeouts (expired, error) within
    // watchRestartWindow.
    watchRestartWindow: '15m',
    watchRestarts: 5,
    watchRestartsFor: '15m',
  },
}
