local promql = import '../lib/promql.libsonnet';

{
  // The recording rules' names, for the alerts and dashboards that read
  // them.
  _records:: {
    dbusLatencyP99: 'instance_method:systemd_dbus_request_duration_seconds:p99_rate5m',
  },

  prometheusRules+:: {
    local c = $._config,
    local sel = c.systemdSelector,
    groups+: [{
      name: 'systemd-exporter.rules',
      rules: [
        {
          record: $._records.dbusLatencyP99,
          expr: promql.quantile('0.99', 'systemd_dbus_request_duration_seconds', sel, promql.by(c, ['method']), '5m'),
        },
      ],
    }],
  },
}
