local g = import '../lib/dashboard.libsonnet';
local promql = import '../lib/promql.libsonnet';


// etcd_job and etcd_instance choose etcd's own series (its /metrics), when
// Prometheus scrapes them: etcd_disk_wal_fsync_duration_seconds.
local labelVariable(name, label, selector, labelName, multi=false) =
  local query = 'label_values(%s, %s)' % [selector, labelName];
  g.queryVariable(name, label, selector, multi) + { query: query, definition: query };
local etcdVariables(c) = [
  labelVariable('etcd_job', 'etcd job', 'etcd_disk_wal_fsync_duration_seconds_count{%s, %s}' % [c.etcdServerSelector, g.clusterSelector(c)], 'job'),
  labelVariable('etcd_instance', 'etcd member', 'etcd_disk_wal_fsync_duration_seconds_count{%s, job="$etcd_job"}' % g.clusterSelector(c), 'instance', true),
];

// What is in etcd and who writes to it, per prefix (per Kubernetes
// resource). Every etcd member's exporter sees the same keyspace, so
// panels over several instances take the max per prefix, not the sum.
local dashboard(c, r) =
  local node = g.nodeSelector(c);
  local prefixes = node + ', prefix!="__overflow__"';
  local member = '%s, job="$etcd_job", instance=~"$etcd_instance"' % g.clusterSelector(c);
  g.dashboard(
    c,
    'etcd / Keyspace',
    'bpfleet-etcd-keyspace',
    'What is in etcd and who churns it, per key prefix (per Kubernetes resource), seen by etcd_exporter: keys, bytes, largest values, puts and deletes, value sizes.',
    c.dashboardTags,
    g.jobInstanceVariables(c, 'etcd_exporter_build_info', c.etcdSelector, multiInstance=true) + etcdVariables(c),
    [
      g.row('Keyspace', [
        g.timeseries('Keys by resource', 'Keys under each of the 15 largest prefixes at the last keyspace pass (etcd_keyspace_keys).', 'short', [
          g.target('topk(15, max by (prefix) (etcd_keyspace_keys{%s}))' % node, '{{prefix}}'),
        ]),
        g.timeseries('Bytes by resource', 'Sum of the value sizes under each of the 15 largest prefixes at the last keyspace pass (etcd_keyspace_value_bytes).', 'bytes', [
          g.target('topk(15, max by (prefix) (etcd_keyspace_value_bytes{%s}))' % node, '{{prefix}}'),
        ]),
        g.table('Largest values', 'The largest value under each prefix at the last pass (etcd_keyspace_largest_value_bytes), largest first; etcd refuses requests above --max-request-bytes (1.5 MiB by default).', 'bytes', [
          g.target('max by (prefix) (etcd_keyspace_largest_value_bytes{%s})' % prefixes),
        ]),
        g.stat('Pass age', 'Time since the last complete keyspace pass of each exporter (etcd_keyspace_scan_timestamp_seconds); the pass runs every --collector.keyspace.scan-interval.', 's', [
          g.target('time() - max by (instance) (etcd_keyspace_scan_timestamp_seconds{%s})' % node, '{{instance}}'),
        ], thresholds=[{ color: 'green', value: null }, { color: 'orange', value: c.scanStaleSeconds }]),
        g.stat('Leases', 'Leases granted and not yet expired or revoked (etcd_leases).', 'short', [
          g.target('max by (instance) (etcd_leases{%s})' % node, '{{instance}}'),
        ], thresholds=[{ color: 'green', value: null }]),
      ]),
      g.row('Churn', [
        g.timeseries('Top writers: puts by resource', 'Puts per second under the 10 busiest prefixes (recording rule %s over etcd_keyspace_puts_total).' % r.putsRate, 'ops', [
          g.target('topk(10, max by (prefix) (%s{%s}))' % [r.putsRate, node], '{{prefix}}'),
        ]),
        g.timeseries('Deletes by resource', 'Deletions per second under the 10 busiest prefixes (etcd_keyspace_deletes_total).', 'ops', [
          g.target('topk(10, max by (prefix) (rate(etcd_keyspace_deletes_total{%s}[$__rate_interval])))' % node, '{{prefix}}'),
        ]),
        g.timeseries('Value size p99 by resource', 'p99 of the size of the values put under each prefix, over 5 minutes (recording rule %s over etcd_keyspace_value_size_bytes).' % r.valueSizeP99, 'bytes', [
          g.target('topk(10, max by (prefix) (%s{%s}))' % [r.valueSizeP99, prefixes], '{{prefix}}'),
        ]),
        g.timeseries('Watch restarts', "Restarts of the exporter's keyspace watch by reason (etcd_keyspace_watch_restarts_total): compacted means changes were lost to a compaction, error that etcd was unreachable.", 'short', [
          g.target('sum by (instance, reason) (increase(etcd_keyspace_watch_restarts_total{%s}[$__rate_interval]))' % node, '{{reason}} {{instance}}'),
        ]),
      ]),
      g.row('Disk syncs (kernel)', [
        g.timeseries('Sync latency p99', "p99 of the time the etcd process spent in each fsync, fdatasync and sync_file_range call over 5 minutes, measured in the kernel (recording rule %s over etcd_process_sync_duration_seconds); compare with etcd's own etcd_disk_wal_fsync_duration_seconds. etcd wants under 10ms." % r.syncP99, 's', [
          g.target('max by (instance, syscall) (%s{%s})' % [r.syncP99, node], '{{syscall}} {{instance}}'),
        ]),
        g.timeseries('WAL fsync p99: kernel and etcd', "p99 of the etcd process's fsync and fdatasync calls over 5 minutes as the kernel measures them (recording rule %s), beside etcd's own p99 of its WAL syncs (etcd_disk_wal_fsync_duration_seconds of the members chosen in etcd job and etcd member), when Prometheus scrapes etcd's /metrics. etcd's includes its own overhead around the call; a kernel p99 far below etcd's points at etcd, not the disk. etcd wants under 10ms." % r.syncP99, 's', [
          g.target('max by (instance, syscall) (%s{%s, syscall=~"fsync|fdatasync"})' % [r.syncP99, node], 'kernel {{syscall}} {{instance}}'),
          g.target('histogram_quantile(0.99, sum by (instance, le) (rate(etcd_disk_wal_fsync_duration_seconds_bucket{%s}[$__rate_interval])))' % member, 'etcd {{instance}}'),
        ]),
        g.heatmap('WAL fsync distribution (etcd)', "etcd's own measure of its WAL fsyncs on the chosen members (etcd_disk_wal_fsync_duration_seconds of $etcd_job, classic buckets): fsyncs per second in each latency bucket.", 's', g.target(promql.heatmap('etcd_disk_wal_fsync_duration_seconds', member, '$__rate_interval'))),
        g.heatmap('Sync latency distribution', 'Time the etcd process spent in its fsync, fdatasync and sync_file_range calls, measured in the kernel, on the chosen nodes: calls per second in each latency bucket (etcd_process_sync_duration_seconds, the native histogram where Prometheus ingests it, else the classic buckets).', 's', g.target(promql.heatmap('etcd_process_sync_duration_seconds', node, '$__rate_interval'))),
        g.timeseries('Syncs per second', 'fsync, fdatasync and sync_file_range calls of the etcd process per second (etcd_process_sync_duration_seconds count).', 'ops', [
          g.target(promql.count('etcd_process_sync_duration_seconds', node, 'instance, syscall', '$__rate_interval'), '{{syscall}} {{instance}}'),
        ]),
        g.timeseries('Bytes written by file', 'Bytes the etcd process writes per second, counted in the kernel, by the file written: wal, snap, db or other (etcd_process_write_bytes_total).', 'Bps', [
          g.target('sum by (instance, file) (rate(etcd_process_write_bytes_total{%s}[$__rate_interval]))' % node, '{{file}} {{instance}}'),
        ], stack=true),
        g.stat('etcd processes measured', 'etcd processes whose sync calls the exporter measures (etcd_process_sync_processes); 0 means it did not find etcd (--collector.sync.pid-file, --collector.sync.cgroup, --collector.sync.comm).', 'short', [
          g.target('max by (instance) (etcd_process_sync_processes{%s})' % node, '{{instance}}'),
        ]),
      ]),
      g.row('Exporter', [
        g.stat('Collectors', 'Whether each collector succeeded at its last scrape, on every chosen instance (etcd_scrape_collector_success): keyspace fails while etcd does not answer its passes or watch, lease while it does not answer a lease list.', 'bool_on_off', [
          g.target('min by (collector) (etcd_scrape_collector_success{%s})' % node, '{{collector}}'),
        ]),
        g.timeseries('Pass duration', 'How long the last complete keyspace pass took (etcd_keyspace_scan_duration_seconds).', 's', [
          g.target('max by (instance) (etcd_keyspace_scan_duration_seconds{%s})' % node, '{{instance}}'),
        ]),
      ]),
    ],
  );

{
  grafanaDashboards+:: {
    'etcd-keyspace.json': dashboard($._config, $._records),
  },
}
