// Alert builders shared by every bpfleet mixin.
{
  // alert returns an alerting rule. c is the mixin's _config: its
  // runbookURLBase is the runbook page (each alert links to the section
  // named after it); severity is a level (critical, warning, info) that
  // c.alertSeverities may override for this alert and c.severities maps
  // to the label value.
  alert(name, expr, forDuration, severity, summary, description, c):: {
    local level = std.get(c.alertSeverities, name, severity),
    alert: name,
    expr: expr,
    'for': forDuration,
    labels: { severity: c.severities[level] },
    annotations: {
      summary: summary,
      description: description,
      runbook_url: '%s#%s' % [c.runbookURLBase, std.asciiLower(name)],
    },
  },

  // workload is the alert-template text that names the workload of an
  // alert's series aggregated per pod (namespace, pod), or per node for
  // processes outside pods.
  workload:: '{{ if $labels.pod }}pod {{ $labels.namespace }}/{{ $labels.pod }}{{ else }}processes outside pods{{ end }}',

  // where is the alert-template text that names the node and, when the
  // series has one, the cluster of an alert's series.
  where(c):: '{{ $labels.instance }}{{ with $labels.%s }} in cluster {{ . }}{{ end }}' % c.clusterLabel,

  // inCluster names the cluster of an alert's series, when it has one.
  inCluster(c):: '{{ with $labels.%s }} in cluster {{ . }}{{ end }}' % c.clusterLabel,
}
