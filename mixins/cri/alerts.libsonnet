local alerts = import '../lib/alerts.libsonnet';
local exporter = import '../lib/exporter.libsonnet';
local promql = import '../lib/promql.libsonnet';

// container is the alert-template text that names the container of an
// alert's series; the oom collector serves empty names while the cri
// collector has not listed the container.
local container = '{{ if $labels.pod }}container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }}{{ else }}a container the runtime has not listed{{ end }}';

{
  prometheusAlerts+:: {
    local c = $._config,
    local sel = c.criSelector,
    local rule(name, expr, forDuration, severity, summary, description) =
      alerts.alert(name, expr, forDuration, severity, summary, description, c),
    groups+: [{
      name: 'cri-exporter',
      // The cri collector fails exactly when the runtime does not answer:
      // CRIRuntimeUnreachable says so, sooner, and this one leaves it out.
      rules: exporter.alerts(c, collectorMatcher='collector!="cri"'),
    }, {
      name: 'cri-runtime',
      rules: [
        rule(
          'CRIRuntimeUnreachable',
          |||
            cri_scrape_collector_success{%(sel)s, collector="cri"} == 0
            unless on (%(cluster)s, job, instance, collector)
            cri_exporter_collector_unsupported{%(sel)s} == 1
          ||| % { sel: sel, cluster: c.clusterLabel },
          c.runtimeUnreachableFor,
          'critical',
          'The container runtime does not answer.',
          'The container runtime on %s has not answered cri_exporter over its CRI socket for %s: it is down, hung or at another socket. The kubelet cannot start or stop containers there.' % [alerts.where(c), c.runtimeUnreachableFor],
        ),
        rule(
          'CRIRuntimeNotReady',
          'cri_runtime_condition{%s, condition=~"%s"} == 0' % [sel, c.runtimeConditions],
          c.runtimeNotReadyFor,
          'critical',
          'The container runtime is not ready.',
          'The container runtime on %s has reported {{ $labels.condition }} false for %s; the kubelet marks the node NotReady and starts no new pods there.' % [alerts.where(c), c.runtimeNotReadyFor],
        ),
      ],
    }, {
      name: 'cri-containers',
      rules: [
        // A container's counter series appears with its first OOM kill,
        // which increase() cannot see: a series that is new within the
        // window counts with its whole value.
        rule(
          'CRIContainerOOMKilled',
          |||
            sum by (%(by)s) (
              (cri_container_oom_kills_total{%(sel)s} unless cri_container_oom_kills_total{%(sel)s} offset %(w)s)
              or
              increase(cri_container_oom_kills_total{%(sel)s}[%(w)s])
            ) > 0
          ||| % { sel: sel, w: c.oomKillWindow, by: promql.by(c, ['namespace', 'pod', 'container']) },
          c.oomKilledFor,
          'warning',
          'A container lost a process to the OOM killer.',
          'The OOM killer chose processes of %s on %s as its victims: {{ $value | humanize }} in the last %s. Child processes count, also where the container keeps running.' % [container, alerts.where(c), c.oomKillWindow],
        ),
      ],
    }],
  },
}
