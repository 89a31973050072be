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

  // exporterAlerts returns the alerts every bpfleet exporter's
  // self-metrics support. c needs: prefix (alert name prefix, e.g.
  // 'KernelExporter'), namespace (metric namespace, e.g. 'kernel'),
  // exporter (binary name), selector, runbookURLBase, and the for durations
  // programDetachedFor, collectorFailingFor and eventsLostFor.
  exporterAlerts(c):: [
    $.alert(
      c.prefix + 'ProgramDetached',
      '%(ns)s_bpf_program_attached{%(sel)s} == 0' % { ns: c.namespace, sel: c.selector },
      c.programDetachedFor,
      'warning',
      '%s BPF program is not attached.' % c.exporter,
      '%s on {{ $labels.instance }} has not attached BPF program {{ $labels.program }} for %s; the metrics that program feeds are missing or stale.' % [c.exporter, c.programDetachedFor],
      c.runbookURLBase,
    ),
    $.alert(
      c.prefix + 'CollectorFailing',
      '%(ns)s_scrape_collector_success{%(sel)s} == 0' % { ns: c.namespace, sel: c.selector },
      c.collectorFailingFor,
      'warning',
      '%s collector is failing.' % c.exporter,
      'Collector {{ $labels.collector }} of %s on {{ $labels.instance }} has failed every scrape for %s; it is retried with backoff and its metrics are missing meanwhile.' % [c.exporter, c.collectorFailingFor],
      c.runbookURLBase,
    ),
    $.alert(
      c.prefix + 'EventsLost',
      'sum by (job, instance, collector, reason) (rate(%(ns)s_events_lost_total{%(sel)s}[5m])) > 0' % { ns: c.namespace, sel: c.selector },
      c.eventsLostFor,
      'warning',
      '%s is losing events.' % c.exporter,
      'Collector {{ $labels.collector }} of %s on {{ $labels.instance }} loses {{ printf "%%.3g" $value }} events per second ({{ $labels.reason }}); its counters undercount.' % c.exporter,
      c.runbookURLBase,
    ),
  ],
}
