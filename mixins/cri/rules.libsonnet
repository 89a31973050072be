local promql = import '../lib/promql.libsonnet';

{
  // The recording rules' names, for the alerts and dashboards that read
  // them.
  _records:: {
    requestLatencyP99: 'instance_method:cri_request_duration_seconds:p99_rate5m',
  },

  prometheusRules+:: {
    local c = $._config,
    local sel = c.criSelector,
    groups+: [{
      name: 'cri-exporter.rules',
      rules: [
        {
          record: $._records.requestLatencyP99,
          expr: promql.quantile('0.99', 'cri_request_duration_seconds', sel, promql.by(c, ['method']), '5m'),
        },
      ],
    }],
  },
}
