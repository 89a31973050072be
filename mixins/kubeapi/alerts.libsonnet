local alerts = import '../lib/alerts.libsonnet';
local exporter = import '../lib/exporter.libsonnet';
local promql = import '../lib/promql.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local sel = c.kubeapiSelector,
    local r = $._records,
    local rule(name, expr, forDuration, severity, summary, description) =
      alerts.alert(name, expr, forDuration, severity, summary, description, c),
    groups+: [{
      name: 'kubeapi-exporter',
      // Only CollectorFailing: the exporter has no BPF program and no
      // event loss of its own.
      rules: exporter.alerts(c, bpf=false),
    }, {
      name: 'kubeapi-workloads',
      rules: [
        rule(
          'KubeAPIPodStartupSlow',
          promql.atLeast(
            '%s{%s, phase="ready"} > %d' % [r.startupP99, sel, c.podStartupSlowSeconds],
            promql.countIncrease('kubeapi_pod_startup_duration_seconds', sel + ', phase="ready"', promql.by(c, ['namespace', 'phase']), '10m'),
            promql.by(c, ['namespace', 'phase']),
            c.podStartupMinPods,
          ),
          c.podStartupSlowFor,
          'warning',
          'Pods start slowly.',
          'The p99 time from creation to Ready of Pods in namespace {{ $labels.namespace }} has been {{ printf "%%.0f" $value }}s (over %ds) on %s for %s.' % [c.podStartupSlowSeconds, alerts.where(c), c.podStartupSlowFor],
        ),
        rule(
          'KubeAPICrashLoopBackOffRising',
          |||
            sum by (%(byJob)s, namespace) (kubeapi_pod_container_waiting{%(sel)s, reason="CrashLoopBackOff"})
            - (sum by (%(byJob)s, namespace) (kubeapi_pod_container_waiting{%(sel)s, reason="CrashLoopBackOff"} offset %(w)s) or on (%(byJob)s, namespace) (0 * sum by (%(byJob)s, namespace) (kubeapi_pod_container_waiting{%(sel)s, reason="CrashLoopBackOff"})))
            >= %(rise)d
          ||| % { sel: sel, w: c.crashLoopWindow, rise: c.crashLoopRise, byJob: promql.byJob(c) },
          c.crashLoopRisingFor,
          'warning',
          'More containers are in CrashLoopBackOff.',
          'Namespace {{ $labels.namespace }} has {{ $value }} more containers in CrashLoopBackOff than %s ago.' % c.crashLoopWindow,
        ),
        rule(
          'KubeAPIOOMKilledSurge',
          'sum by (%s) (increase(kubeapi_pod_container_terminations_total{%s, reason="OOMKilled"}[%s])) >= %d' % [promql.byJob(c, ['namespace']), sel, c.oomWindow, c.oomSurge],
          c.oomSurgeFor,
          'warning',
          'Containers are OOM-killed in a surge.',
          'Containers of namespace {{ $labels.namespace }} were OOM-killed {{ printf "%%.0f" $value }} times in %s.' % c.oomWindow,
        ),
        rule(
          'KubeAPIManagerWritingInLoop',
          'sum by (%s) (rate(kubeapi_object_writes_total{%s, operation="update"}[%s])) > %g' % [promql.byJob(c, ['resource', 'manager']), sel, c.writeLoopWindow, c.writeLoopRate],
          c.writeLoopFor,
          'warning',
          'A field manager rewrites objects in a loop.',
          'Field manager {{ $labels.manager }} has updated {{ $labels.resource }} {{ printf "%%.3g" $value }} times per second for %s: a controller that fights another or never converges.' % c.writeLoopFor,
        ),
        rule(
          'KubeAPIWatchRestartsHigh',
          'sum by (%s) (increase(kubeapi_watch_restarts_total{%s, reason!="timeout"}[%s])) >= %d' % [promql.by(c, ['resource']), sel, c.watchRestartWindow, c.watchRestarts],
          c.watchRestartsFor,
          'warning',
          'kubeapi_exporter watches restart often.',
          'The watch of {{ $labels.resource }} by %s ended with an error or expired {{ printf "%%.0f" $value }} times in %s; the API server is unstable or overloaded, and each expiry costs a relist.' % [alerts.where(c), c.watchRestartWindow],
        ),
      ],
    }],
  },
}
