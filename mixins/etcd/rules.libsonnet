local promql = import '../lib/promql.libsonnet';

{
  // The recording rules' names, for the dashboards that read them.
  _records:: {
    putsRate: 'prefix:etcd_keyspace_puts:rate5m',
    valueSizeP99: 'prefix:etcd_keyspace_value_size_bytes:p99_rate5m',
    syncP99: 'syscall:etcd_process_sync_duration_seconds:p99_rate5m',
  },

  prometheusRules+:: {
    local c = $._config,
    local sel = c.etcdSelector,
    groups+: [{
      name: 'etcd-exporter.rules',
      rules: [
        {
          record: $._records.putsRate,
          expr: 'sum by (%s) (rate(etcd_keyspace_puts_total{%s}[5m]))' % [promql.by(c, ['prefix']), sel],
        },
        {
          record: $._records.valueSizeP99,
          expr: promql.quantile('0.99', 'etcd_keyspace_value_size_bytes', sel, promql.by(c, ['prefix']), '5m'),
        },
        {
          record: $._records.syncP99,
          expr: promql.quantile('0.99', 'etcd_process_sync_duration_seconds', sel, promql.by(c, ['syscall']), '5m'),
        },
      ],
    }],
  },
}
