// The health of a bpfleet exporter itself, from its self-metrics
// (<ns>_exporter_*, <ns>_scrape_collector_*): the alerts and the
// dashboards' Exporter row that every mixin shares. c is the mixin's
// _config, which needs namespace (the metrics' namespace, e.g. 'kernel'),
// alertPrefix (e.g. 'Kernel'), selector (its exporter's series),
// runbookURLBase and the for durations programDetachedFor,
// collectorFailingFor and eventsLostFor.
local alerts = import 'alerts.libsonnet';
local g = import 'dashboard.libsonnet';
local promql = import 'promql.libsonnet';

{
  // binary is the name of the exporter's program, e.g. kernel_exporter:
  // c.binary where the metrics' namespace is not its name
  // (kubelet_exporter serves kubelet_summary_*).
  binary(c):: std.get(c, 'binary', c.namespace + '_exporter'),

  // alerts returns the exporter-health alerts: <alertPrefix>ExporterDown
  // (down), and ProgramDetached, CollectorFailing and EventsLost (without
  // bpf, for an exporter that loads no BPF program, CollectorFailing
  // only). collectorMatcher, when
  // not empty, narrows the collectors that CollectorFailing watches (e.g.
  // 'collector!="cri"'). An unsupported collector (the host lacks what it
  // needs) is off by design: it serves no success series, and
  // CollectorFailing leaves it out even while an old success 0 is still
  // there.
  alerts(c, collectorMatcher='', bpf=true)::
    local v = {
      cluster: c.clusterLabel,
      ns: c.namespace,
      sel: c.selector,
      collectors: if collectorMatcher == '' then c.selector else c.selector + ', ' + collectorMatcher,
    };
    [
      $.down(c),
    ] + (if bpf then [
           alerts.alert(
             c.alertPrefix + 'ExporterProgramDetached',
             '%(ns)s_exporter_bpf_program_attached{%(sel)s} == 0' % v,
             c.programDetachedFor,
             'warning',
             '%s BPF program is not attached.' % $.binary(c),
             '%s on {{ $labels.instance }} has not attached BPF program {{ $labels.program }} for %s; the metrics that program feeds are missing or stale.' % [$.binary(c), c.programDetachedFor],
             c,
           ),
         ] else []) + [
      alerts.alert(
        c.alertPrefix + 'ExporterCollectorFailing',
        |||
          %(ns)s_scrape_collector_success{%(collectors)s} == 0
          unless on (%(cluster)s, job, instance, collector)
          %(ns)s_exporter_collector_unsupported{%(sel)s} == 1
        ||| % v,
        c.collectorFailingFor,
        'warning',
        '%s collector is failing.' % $.binary(c),
        'Collector {{ $labels.collector }} of %s on {{ $labels.instance }} has failed every scrape for %s; it is retried with backoff and its metrics are missing meanwhile.' % [$.binary(c), c.collectorFailingFor],
        c,
      ),
    ] + (if bpf then [
           alerts.alert(
             c.alertPrefix + 'ExporterEventsLost',
             'sum by (%(cluster)s, job, instance, collector, reason) (rate(%(ns)s_exporter_events_lost_total{%(sel)s}[5m])) > 0' % v,
             c.eventsLostFor,
             'warning',
             '%s is losing events.' % $.binary(c),
             'Collector {{ $labels.collector }} of %s on {{ $labels.instance }} loses {{ printf "%%.3g" $value }} events per second ({{ $labels.reason }}); its counters undercount.' % $.binary(c),
             c,
           ),
         ] else []),

  // down returns <alertPrefix>ExporterDown: targets of the exporter's job
  // (c.selector) are down, or the job has no target at all. One alert per
  // cluster and job, whose value is how many targets are down: a DaemonSet
  // whose exporters all fail (a bad rollout, a node pool gone) raises one
  // alert, not one per node; the job's dashboards and `up` name the nodes.
  // absent() sees only the whole job: with several clusters in one
  // Prometheus (Thanos, Mimir), a job missing from one cluster while
  // present in others goes unnoticed by the absent branch.
  down(c)::
    alerts.alert(
      c.alertPrefix + 'ExporterDown',
      |||
        count by (%(by)s) (up{%(sel)s} == 0)
        or
        absent(up{%(sel)s})
      ||| % { by: promql.byJob(c), sel: c.selector },
      c.exporterDownFor,
      'warning',
      '%s is down.' % $.binary(c),
      '{{ $value }} target(s) of job {{ $labels.job }}%s have been down for %s, or the job has no target at all: %s serves no metrics there and its other alerts cannot fire.' % [alerts.inCluster(c), c.exporterDownFor, $.binary(c)],
      c,
    ),

  // row returns the dashboards' Exporter row over the series that node
  // selects (job and instance, one instance or several). notes adds the
  // exporter's own words to panel descriptions: collectors (what makes
  // its collectors fail), eventsLost (what its loss reasons mean) and maps
  // (what its maps hold).
  row(c, node, notes={})::
    local ns = c.namespace;
    local note(name) = if std.objectHas(notes, name) then ' ' + notes[name] else '';
    g.row('Exporter', [
      g.stat('Collectors', 'Whether each collector succeeded at its last scrape, on every chosen node (%s_scrape_collector_success). A failing collector is retried with backoff; its metrics are missing meanwhile. An unsupported collector has no value here.%s' % [ns, note('collectors')], 'bool_on_off', [
        g.target('min by (collector) (%s_scrape_collector_success{%s})' % [ns, node], '{{collector}}'),
      ]),
      g.stat('Collectors unsupported', 'Whether the host of a chosen node cannot support an enabled collector (%s_exporter_collector_unsupported): a kernel feature or hook it needs is missing. It stays off by design, reports no scrape success and raises no %sExporterCollectorFailing alert; disable it (--no-collector.<name>) where that is expected.' % [ns, c.alertPrefix], 'bool_yes_no', [
        g.target('max by (collector) (%s_exporter_collector_unsupported{%s})' % [ns, node], '{{collector}}'),
      ], thresholds=[{ color: 'green', value: null }, { color: 'orange', value: 1 }]),
      g.stat('BPF programs attached', 'Whether each BPF program is attached on every chosen node (%s_exporter_bpf_program_attached).' % ns, 'bool_on_off', [
        g.target('min by (program) (%s_exporter_bpf_program_attached{%s})' % [ns, node], '{{program}}'),
      ]),
      g.timeseries('Events lost', 'Events the exporter could not count, per second, by collector and reason (%s_exporter_events_lost_total).%s' % [ns, note('eventsLost')], 'eps', [
        g.target('sum by (instance, collector, reason) (rate(%s_exporter_events_lost_total{%s}[$__rate_interval]))' % [ns, node], '{{collector}} {{reason}} {{instance}}'),
      ]),
      g.timeseries('BPF map fill', 'Entries of each BPF map over its capacity, on the fullest chosen node (%s_exporter_bpf_map_entries / %s_exporter_bpf_map_max_entries).%s' % [ns, ns, note('maps')], 'percentunit', [
        g.target('max by (map) (%s_exporter_bpf_map_entries{%s} / %s_exporter_bpf_map_max_entries{%s})' % [ns, node, ns, node], '{{map}}'),
      ]),
      g.timeseries('BPF recursion misses', 'Runs of each BPF program the kernel skipped per second because a BPF program was already running on that CPU (%s_exporter_bpf_program_recursion_misses_total): the events they would have counted are lost.' % ns, 'ops', [
        g.target('sum by (program) (rate(%s_exporter_bpf_program_recursion_misses_total{%s}[$__rate_interval]))' % [ns, node], '{{program}}'),
      ]),
    ]),
}
