// Alert builders shared by every bpfleet mixin.
{
  // alert returns an alerting rule. runbookURLBase is the runbook page;
  // each alert links to the section named after it.
  alert(name, expr, forDuration, severity, summary, description, runbookURLBase):: {
    alert: name,
    expr: expr,
    'for': forDuration,
    labels: { severity: severity },
    annotations: {
      summary: summary,
      description: description,
      runbook_url: '%s#%s' % [runbookURLBase, std.asciiLower(name)],
    },
  },

  // workload is the alert-template text that names the workload of an
  // alert's series: its pod and container when it has them, else its cgroup.
  workload:: '{{ if $labels.pod }}container {{ $labels.container }} of pod {{ $labels.namespace }}/{{ $labels.pod }}{{ else }}cgroup {{ $labels.cgroup }}{{ end }}',
}
