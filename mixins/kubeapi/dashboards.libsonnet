local g = import '../lib/dashboard.libsonnet';
local promql = import '../lib/promql.libsonnet';


local dashboard(c, r) =
  local node = g.nodeSelector(c);
  g.dashboard(
    c,
    'KubeAPI / Overview',
    'bpfleet-kubeapi-overview',
    "Kubernetes Events by reason, Pod startup latency by phase, crash loops and OOM kills by namespace, the field managers that write the most, and the exporter's own watches, seen by kubeapi_exporter (all shards of the job).",
    c.dashboardTags,
    g.jobInstanceVariables(c, 'kubeapi_exporter_build_info', c.kubeapiSelector, multiInstance=true),
    [
      g.row('Events', [
        g.timeseries('Events by reason', 'Event occurrences per second by reason and type, count and series increments included (kubeapi_events_total).', 'ops', [
          g.target('topk(15, sum by (reason, type) (rate(kubeapi_events_total{%s}[$__rate_interval])))' % node, '{{type}} {{reason}}'),
        ]),
        g.timeseries('Warning events by namespace', 'Warning Event occurrences per second by namespace and involved kind (kubeapi_events_total).', 'ops', [
          g.target('topk(15, sum by (namespace, involved_kind) (rate(kubeapi_events_total{%s, type="Warning"}[$__rate_interval])))' % node, '{{namespace}} {{involved_kind}}'),
        ]),
      ]),
      g.row('Pod startup', [
        g.timeseries('Startup p50 by phase', 'Median time from Pod creation to each condition first True, over 10 minutes, by phase (recording rule %s).' % r.startupP50, 's', [
          g.target('max by (phase) (%s{%s})' % [r.startupP50, node], '{{phase}}'),
        ]),
        g.timeseries('Startup p99 by phase', 'p99 of the time from Pod creation to each condition first True, over 10 minutes, by phase (recording rule %s).' % r.startupP99, 's', [
          g.target('max by (phase) (%s{%s})' % [r.startupP99, node], '{{phase}}'),
        ]),
        g.heatmap('Pod startup distribution', 'Time from creation to Ready of the Pods that became Ready: Pods per second in each duration bucket (kubeapi_pod_startup_duration_seconds{phase="ready"}, the native histogram where Prometheus ingests it, else the classic buckets).', 's', g.target(promql.heatmap('kubeapi_pod_startup_duration_seconds', node + ', phase="ready"', '$__rate_interval'))),
        g.timeseries('Pods started', 'Pods reaching each phase per second (kubeapi_pod_startup_duration_seconds count).', 'ops', [
          g.target(promql.count('kubeapi_pod_startup_duration_seconds', node, 'phase', '$__rate_interval'), '{{phase}}'),
        ]),
      ]),
      g.row('Failures', [
        g.timeseries('CrashLoopBackOff by namespace', 'Containers waiting in CrashLoopBackOff now, by namespace (kubeapi_pod_container_waiting).', 'short', [
          g.target('sum by (namespace) (kubeapi_pod_container_waiting{%s, reason="CrashLoopBackOff"})' % node, '{{namespace}}'),
        ]),
        g.timeseries('Waiting containers by reason', 'Containers waiting now, by reason (kubeapi_pod_container_waiting).', 'short', [
          g.target('sum by (reason) (kubeapi_pod_container_waiting{%s})' % node, '{{reason}}'),
        ], stack=true),
        g.timeseries('OOM kills by namespace', 'OOMKilled container terminations per second, by namespace (kubeapi_pod_container_terminations_total).', 'ops', [
          g.target('sum by (namespace) (rate(kubeapi_pod_container_terminations_total{%s, reason="OOMKilled"}[$__rate_interval]))' % node, '{{namespace}}'),
        ]),
        g.timeseries('Terminations by reason', 'Container terminations per second, by reason (kubeapi_pod_container_terminations_total).', 'ops', [
          g.target('sum by (reason) (rate(kubeapi_pod_container_terminations_total{%s}[$__rate_interval]))' % node, '{{reason}}'),
        ], stack=true),
      ]),
      g.row('Writers', [
        g.timeseries('Top writers', 'Writes per second of the 10 busiest field managers, by resource and operation (kubeapi_object_writes_total): a manager updating one resource steadily may be writing in a loop.', 'ops', [
          g.target('topk(10, sum by (manager, resource, operation) (rate(kubeapi_object_writes_total{%s}[$__rate_interval])))' % node, '{{manager}} {{operation}} {{resource}}'),
        ]),
      ]),
      g.row('Watches', [
        g.timeseries('Watch restarts', 'Watches that ended and were reopened, per second, by resource and reason (kubeapi_watch_restarts_total); timeout is the server closing a watch, normal; expired costs a relist.', 'ops', [
          g.target('sum by (resource, reason) (rate(kubeapi_watch_restarts_total{%s}[$__rate_interval]))' % node, '{{resource}} {{reason}}'),
        ]),
        g.timeseries('Relists', 'Full lists after the first, per second, by resource (kubeapi_relists_total).', 'ops', [
          g.target('sum by (resource) (rate(kubeapi_relists_total{%s}[$__rate_interval]))' % node, '{{resource}}'),
        ]),
        g.heatmap('API request latency distribution', "Time the API server took to answer the exporter's own requests, every verb and resource: requests per second in each latency bucket (kubeapi_request_duration_seconds, native histogram or classic buckets).", 's', g.target(promql.heatmap('kubeapi_request_duration_seconds', node, '$__rate_interval'))),
        g.timeseries('API request p99', "p99 of the exporter's own API requests over 5 minutes, by verb and resource (kubeapi_request_duration_seconds).", 's', [
          g.target(promql.quantile('0.99', 'kubeapi_request_duration_seconds', node, 'verb, resource', '$__rate_interval'), '{{verb}} {{resource}}'),
        ]),
      ]),
      // The exporter's own row: kubeapi_exporter has no BPF programs or maps,
      // so lib/exporter.libsonnet's row would show panels without data.
      g.row('Exporter', [
        g.stat('Collectors', 'Whether each collector succeeded at its last scrape, on every chosen instance (kubeapi_scrape_collector_success). A collector fails while its watch is down or the API server forbids its list (see the log); it recovers by itself.', 'bool_on_off', [
          g.target('min by (collector) (kubeapi_scrape_collector_success{%s})' % node, '{{collector}}'),
        ]),
        g.stat('Collectors unsupported', 'Whether an enabled collector cannot run (kubeapi_exporter_collector_unsupported): outside a cluster without --kubeconfig.', 'bool_yes_no', [
          g.target('max by (collector) (kubeapi_exporter_collector_unsupported{%s})' % node, '{{collector}}'),
        ], thresholds=[{ color: 'green', value: null }, { color: 'orange', value: 1 }]),
      ]),
    ],
  );

{
  grafanaDashboards+:: {
    'kubeapi-overview.json': dashboard($._config, $._records),
  },
}
