local promql = import '../lib/promql.libsonnet';

{
  // The recording rules' names, for the alerts and dashboards that read
  // them.
  _records:: {
    startupP50: 'instance_namespace_phase:kubeapi_pod_startup_duration_seconds:p50_rate10m',
    startupP99: 'instance_namespace_phase:kubeapi_pod_startup_duration_seconds:p99_rate10m',
  },

  prometheusRules+:: {
    local c = $._config,
    local sel = c.kubeapiSelector,
    groups+: [{
      name: 'kubeapi-exporter.rules',
      rules: [
        {
          record: $._records.startupP50,
          expr: promql.quantile('0.5', 'kubeapi_pod_startup_duration_seconds', sel, promql.by(c, ['namespace', 'phase']), '10m'),
        },
        {
          record: $._records.startupP99,
          expr: promql.quantile('0.99', 'kubeapi_pod_startup_duration_seconds', sel, promql.by(c, ['namespace', 'phase']), '10m'),
        },
      ],
    }],
  },
}
