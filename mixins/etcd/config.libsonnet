(import '../lib/config.libsonnet') + {
  _config+:: {
    // Selects etcd_exporter's series in rules and alerts, and its jobs in
    // the dashboards' job variable.
    etcdSelector: 'job="etcd-exporter"',
    namespace: 'etcd',
    alertPrefix: 'Etcd',
    selector: self.etcdSelector,
    // Selects etcd's own jobs (its /metrics on the client URL) in the
    // dashboard's etcd_job variable, for etcd's own
    // etcd_disk_wal_fsync_duration_seconds beside the kernel's view.
    etcdServerSelector: 'job=~".*etcd.*"',
    // Each alert's runbook_url is this page and the alert's name, lower
    // case, as the anchor.
    runbookURLBase: 'https://github.com/bpfleet/bpfleet/blob/main/mixins/etcd/runbook.md',
    dashboardTags: ['etcd'],

    // A collector of the exporter fails every scrape (etcd unreachable,
    // refused credentials).
    collectorFailingFor: '15m',

    // The last complete keyspace pass is older than this many seconds
    // (passes run every --collector.keyspace.scan-interval, 5m by default).
    scanStaleSeconds: 1800,
    scanStaleFor: '5m',

    // A prefix (a Kubernetes resource) holds at least growthMinKeys keys
    // and growthFactor times as many as growthWindow ago.
    growthWindow: '1h',
    growthFactor: 2,
    growthMinKeys: 1000,
    growingFor: '15m',

    // A value is within requestLimitRatio of etcd's request size limit
    // (--max-request-bytes, 1.5 MiB by default): the next, slightly
    // larger write of that object will be refused.
    requestLimitBytes: 1572864,
    requestLimitRatio: 0.8,
    valueNearLimitFor: '10m',

    // p99 of the etcd process's fsync/fdatasync calls, seen by the kernel,
    // above syncP99Seconds: etcd's guidance is a WAL fsync p99 under 10ms;
    // slower disks make leaders miss heartbeats.
    syncP99Seconds: 0.01,
    syncSlowFor: '10m',

    // The exporter's watch was restarted because its revision had been
    // compacted: changes in between were not counted.
    watchCompactedWindow: '1h',
    watchCompactedFor: '1m',
  },
}
