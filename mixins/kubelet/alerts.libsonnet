local alerts = import '../lib/alerts.libsonnet';
local exporter = import '../lib/exporter.libsonnet';
local promql = import '../lib/promql.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local sel = c.kubeletSelector,
    local rule(name, expr, forDuration, severity, summary, description) =
      alerts.alert(name, expr, forDuration, severity, summary, description, c),
    groups+: [{
      name: 'kubelet-exporter',
      rules: [
        exporter.down(c),
        rule(
          'KubeletSummaryUnreachable',
          |||
            kubelet_summary_scrape_collector_success{%(sel)s, collector="summary"} == 0
            unless on (%(cluster)s, job, instance, collector)
            kubelet_summary_exporter_collector_unsupported{%(sel)s} == 1
          ||| % { sel: sel, cluster: c.clusterLabel },
          c.summaryUnreachableFor,
          'warning',
          "The kubelet's Summary API does not answer.",
          "kubelet_exporter on %s has not read its kubelet's /stats/summary for %s: the kubelet is down or hung, or refuses the exporter's token (401/403: the RBAC, nodes/stats). Pod storage, eviction signals and PSI of the node are missing meanwhile; its log says which." % [alerts.where(c), c.summaryUnreachableFor],
        ),
      ],
    }, {
      name: 'kubelet-storage',
      rules: [
        rule(
          'KubeletPodEphemeralStorageNearLimit',
          '%s{%s} > %g' % [$._records.ephemeralStorageRatio, sel, c.ephemeralStorageRatioThreshold],
          c.ephemeralStorageFor,
          'warning',
          'A pod is near its ephemeral-storage limit.',
          "Pod {{ $labels.namespace }}/{{ $labels.pod }} on %s uses {{ $value | humanizePercentage }} of its ephemeral-storage limit (threshold %g%%): the kubelet evicts it at 100%%. Its containers' writable layers, logs and emptyDir volumes count." % [alerts.where(c), c.ephemeralStorageRatioThreshold * 100],
        ),
        rule(
          'KubeletNodeNearEviction',
          '%s{%s} < %g' % [$._records.evictionRatio, sel, c.evictionMargin],
          c.nearEvictionFor,
          'warning',
          'A node is near a kubelet eviction threshold.',
          '{{ $labels.signal }} on %s is {{ printf "%%.2f" $value }} times its eviction threshold (alert below %g): at 1 the kubelet marks the node under pressure and evicts pods.' % [alerts.where(c), c.evictionMargin],
        ),
      ],
    }],
  },
}
