local g = import '../lib/dashboard.libsonnet';
local exporter = import '../lib/exporter.libsonnet';
local promql = import '../lib/promql.libsonnet';

local labels = ['namespace', 'pod', 'container'];
local byContainer = 'instance, namespace, pod, container';
local legend = '{{namespace}}/{{pod}}/{{container}} on {{instance}}';

local dashboard(c, r) =
  local node = g.nodeSelector(c);
  local workload = g.workloadSelector(c, labels);
  g.dashboard(
    c,
    'CRI / Overview',
    'bpfleet-cri-overview',
    'Container runtime health and responsiveness, pods and containers by state, restarts, exits by reason and OOM kills of the containers on the chosen nodes, seen by cri_exporter.',
    c.dashboardTags,
    // CRI series have no cgroup label: namespace, pod and container only.
    g.workloadVariables(c, 'cri_exporter_build_info', c.criSelector, '__name__="cri_container_info"', labels),
    [
      g.row('Runtime', [
        g.stat('Runtime conditions', 'Whether the runtime reports each condition true (cri_runtime_condition): without RuntimeReady it runs no containers, without NetworkReady no new pods.', 'bool_on_off', [
          g.target('min by (instance, condition) (cri_runtime_condition{%s})' % node, '{{condition}} {{instance}}'),
        ]),
        g.table('Runtime', 'The runtime behind the CRI socket of each node: name, version and CRI API version (cri_runtime_info).', 'none', [
          g.target('cri_runtime_info{%s}' % node),
        ]),
        g.timeseries('CRI request latency p99', "p99 of the time the runtime took to answer the exporter's own CRI requests, over 5 minutes, by method (recording rule %s): how responsive the runtime is." % r.requestLatencyP99, 's', [
          g.target('%s{%s}' % [r.requestLatencyP99, node], '{{method}} on {{instance}}'),
        ]),
        g.heatmap('CRI request latency distribution', "Time the runtime took to answer the exporter's own CRI requests, every method on the chosen nodes: requests per second in each latency bucket (cri_request_duration_seconds, the native histogram where Prometheus ingests it, else the classic buckets).", 's', g.target(promql.heatmap('cri_request_duration_seconds', node, '$__rate_interval'))),
        g.timeseries('CRI requests', "The exporter's own CRI requests that the runtime answered, per second, by method (cri_request_duration_seconds count).", 'reqps', [
          g.target(promql.count('cri_request_duration_seconds', node, 'instance, method', '$__rate_interval'), '{{method}} on {{instance}}'),
        ]),
      ]),
      g.row('Pods and containers', [
        g.timeseries('Pod sandboxes by state', 'Pod sandboxes the runtime has, by state: ready or notready (cri_pod_sandboxes).', 'short', [
          g.target('sum by (state) (cri_pod_sandboxes{%s})' % node, '{{state}}'),
        ], stack=true),
        g.timeseries('Containers by state', 'Containers the runtime has, by state: created, running, exited or unknown (cri_containers).', 'short', [
          g.target('sum by (state) (cri_containers{%s})' % node, '{{state}}'),
        ], stack=true),
        g.table('Containers', 'The containers the runtime has, in any state, with their ids and images (cri_container_info).', 'none', [
          g.target('cri_container_info{%s}' % workload),
        ]),
      ]),
      g.row('Restarts and exits', [
        g.timeseries('Restarts', 'The CRI attempt number of the latest instance of the 10 most restarted containers: how often the kubelet restarted them (cri_container_restarts).', 'short', [
          g.target('topk(10, max by (%s) (cri_container_restarts{%s}))' % [byContainer, workload], legend),
        ]),
        g.timeseries('Exits by reason', 'Container exits per second by reason: completed (exit code 0), error (other codes), signal (killed by a signal) or oom_killed (the runtime says OOMKilled) (cri_container_exits_total).', 'ops', [
          g.target('sum by (reason) (rate(cri_container_exits_total{%s}[$__rate_interval]))' % workload, '{{reason}}'),
        ], stack=true),
        g.timeseries('Top containers by failed exits', 'Exits per second that were not completions (error, signal, oom_killed), of the 10 worst containers (cri_container_exits_total).', 'ops', [
          g.target('topk(10, sum by (%s, reason) (rate(cri_container_exits_total{%s, reason!="completed"}[$__rate_interval])))' % [byContainer, workload], '{{reason}} ' + legend),
        ]),
        g.table('Last exit codes', 'Exit code of the latest exited instance of each container, highest first (cri_container_last_exit_code): 137 is SIGKILL (often the OOM killer), 143 SIGTERM.', 'none', [
          g.target('cri_container_last_exit_code{%s}' % workload),
        ]),
      ]),
      g.row('OOM kills', [
        g.timeseries('OOM kills by container', 'Processes of each container killed by the OOM killer since the exporter started, seen in the kernel (cri_container_oom_kills_total); a step is a kill. Counts child processes of a container that keeps running, which the runtime does not report.', 'short', [
          g.target('sum by (%s) (cri_container_oom_kills_total{%s})' % [byContainer, workload], legend),
        ]),
        g.timeseries('OOM kills per second', 'Processes killed by the OOM killer per second, by container (cri_container_oom_kills_total).', 'ops', [
          g.target('sum by (%s) (rate(cri_container_oom_kills_total{%s}[$__rate_interval])) > 0' % [byContainer, workload], legend),
        ]),
      ]),
      exporter.row(c, node, {
        collectors: 'cri fails while the runtime does not answer, oom while its BPF program is not loaded.',
        eventsLost: 'map_full means the OOM counter map is full, ringbuf_full that a new cgroup was not seen (its OOM kills are not attributed).',
      }),
    ],
  );

{
  grafanaDashboards+:: {
    'cri-overview.json': dashboard($._config, $._records),
  },
}
