local promql = import '../lib/promql.libsonnet';

{
  // The recording rules' names, for the alerts and dashboards that read
  // them.
  _records:: {
    durationP99: 'instance_plugin_command:cni_plugin_duration_seconds:p99_rate5m',
    resultRatio: 'instance_plugin_command_result:cni_plugin_invocations:ratio_rate5m',
    ipamUsage: 'instance_network_range:cni_ipam_addresses_allocated:ratio',
  },

  prometheusRules+:: {
    local c = $._config,
    local sel = c.cniSelector,
    local by = promql.by(c, ['plugin', 'command']),
    groups+: [{
      name: 'cni-exporter.rules',
      rules: [
        {
          record: $._records.durationP99,
          expr: promql.quantile('0.99', 'cni_plugin_duration_seconds', sel, by, '5m'),
        },
        {
          record: $._records.resultRatio,
          expr: |||
            sum by (%(by)s, result) (rate(cni_plugin_invocations_total{%(sel)s}[5m]))
            / ignoring (result) group_left
            sum by (%(by)s) (rate(cni_plugin_invocations_total{%(sel)s}[5m]))
          ||| % { by: by, sel: sel },
        },
        // A range without capacity (an empty or unreadable range) has no
        // ratio.
        {
          record: $._records.ipamUsage,
          expr: 'cni_ipam_addresses_allocated{%(sel)s} / (cni_ipam_addresses_capacity{%(sel)s} > 0)' % { sel: sel },
        },
      ],
    }],
  },
}
