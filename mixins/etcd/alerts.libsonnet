local alerts = import '../lib/alerts.libsonnet';
local exporter = import '../lib/exporter.libsonnet';
local promql = import '../lib/promql.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local sel = c.etcdSelector,
    // Real prefixes only: the overflow series sums many prefixes.
    local prefixes = sel + ', prefix!="__overflow__"',
    local rule(name, expr, forDuration, severity, summary, description) =
      alerts.alert(name, expr, forDuration, severity, summary, description, c),
    groups+: [{
      name: 'etcd-exporter',
      rules: [
        exporter.down(c),
        rule(
          'EtcdExporterCollectorFailing',
          |||
            etcd_scrape_collector_success{%(sel)s} == 0
            unless on (%(cluster)s, job, instance, collector)
            etcd_exporter_collector_unsupported{%(sel)s} == 1
          ||| % { sel: sel, cluster: c.clusterLabel },
          c.collectorFailingFor,
          'warning',
          'etcd_exporter collector is failing.',
          'Collector {{ $labels.collector }} of etcd_exporter on %s has failed every scrape for %s: etcd does not answer it or refuses its credentials. Its metrics are stale or missing meanwhile.' % [alerts.where(c), c.collectorFailingFor],
        ),
        rule(
          'EtcdExporterScanStale',
          'time() - etcd_keyspace_scan_timestamp_seconds{%s} > %d' % [sel, c.scanStaleSeconds],
          c.scanStaleFor,
          'warning',
          'The keyspace pass of etcd_exporter is stale.',
          'The last complete keyspace pass of etcd_exporter on %s finished {{ $value | humanizeDuration }} ago: keys and bytes per prefix are out of date.' % alerts.where(c),
        ),
      ],
    }, {
      name: 'etcd-process',
      rules: [
        rule(
          'EtcdProcessSyncSlow',
          '%s{%s, syscall=~"fsync|fdatasync"} > %g' % [$._records.syncP99, sel, c.syncP99Seconds],
          c.syncSlowFor,
          'warning',
          "etcd's disk syncs are slow.",
          'The p99 of the {{ $labels.syscall }} calls of etcd on %s, measured in the kernel, is {{ $value | humanizeDuration }}, above %gs: the disk is too slow for etcd, and its leader may miss heartbeats.' % [alerts.where(c), c.syncP99Seconds],
        ),
      ],
    }, {
      name: 'etcd-keyspace',
      rules: [
        rule(
          'EtcdKeyspaceResourceGrowingFast',
          // Every member's exporter sees the same keyspace: one alert per
          // prefix of the cluster, not one per member.
          |||
            max by (%(by)s) (etcd_keyspace_keys{%(sel)s}) >= %(min)d
            and
            max by (%(by)s) (etcd_keyspace_keys{%(sel)s}) >= %(factor)g * max by (%(by)s) (etcd_keyspace_keys{%(sel)s} offset %(w)s)
          ||| % { sel: prefixes, min: c.growthMinKeys, factor: c.growthFactor, w: c.growthWindow, by: promql.byJob(c, ['prefix']) },
          c.growingFor,
          'warning',
          'A resource in etcd is growing fast.',
          'etcd%s holds {{ $value }} keys under {{ $labels.prefix }}, at least %g times as many as %s ago: a controller or client is creating objects in a loop (Events, leaked objects).' % [alerts.inCluster(c), c.growthFactor, c.growthWindow],
        ),
        rule(
          'EtcdKeyspaceValueNearRequestLimit',
          'max by (%s) (etcd_keyspace_largest_value_bytes{%s}) > %d' % [promql.byJob(c, ['prefix']), prefixes, std.floor(c.requestLimitBytes * c.requestLimitRatio)],
          c.valueNearLimitFor,
          'warning',
          'A value in etcd is near the request size limit.',
          'The largest value under {{ $labels.prefix }} in etcd%s is {{ $value | humanize1024 }}B, above %g%% of the request limit (%s B): the next larger write of that object will be refused.' % [alerts.inCluster(c), c.requestLimitRatio * 100, c.requestLimitBytes],
        ),
        rule(
          'EtcdKeyspaceWatchCompacted',
          'increase(etcd_keyspace_watch_restarts_total{%s, reason="compacted"}[%s]) > 0' % [sel, c.watchCompactedWindow],
          c.watchCompactedFor,
          'info',
          "etcd compacted changes before etcd_exporter's watch saw them.",
          "etcd_exporter on %s restarted its watch because etcd had compacted the watch's revision: puts and deletes in between are not counted." % alerts.where(c),
        ),
      ],
    }],
  },
}
