local g = import '../lib/dashboard.libsonnet';
local exporter = import '../lib/exporter.libsonnet';
local promql = import '../lib/promql.libsonnet';

local byWorkload = 'instance, cgroup, namespace, pod, container';
local legend = '{{namespace}}/{{pod}}/{{container}} {{cgroup}} on {{instance}}';

// quantiles is the p50 and p99 of histogram metric over $__rate_interval,
// native or classic, grouped by by (may be empty).
local quantiles(metric, selector, by) = [
  g.target(
    promql.quantile(q, metric, selector, by, '$__rate_interval'),
    'p' + std.strReplace(q, '0.', '') + (if by == '' then '' else ' ' + legend),
  )
  for q in ['0.5', '0.99']
];

local overview(c, r) =
  local node = g.nodeSelector(c);
  g.dashboard(
    c,
    'Kernel / Node',
    'bpfleet-kernel-node',
    'Processes, OOM kills, run-queue latency, TCP and block I/O of one node, seen by kernel_exporter.',
    c.dashboardTags,
    g.jobInstanceVariables(c, 'kernel_exporter_build_info', c.kernelSelector),
    [
      g.row('Processes', [
        g.timeseries('Execs by workload', 'Successful execve calls per second of the 10 busiest workloads (kernel_process_execs_total).', 'ops', [
          g.target('topk(10, sum by (%s) (rate(kernel_process_execs_total{%s}[$__rate_interval])))' % [byWorkload, node], legend),
        ]),
        g.timeseries('Forks by workload', 'New processes per second of the 10 busiest workloads (kernel_process_forks_total); threads are not counted.', 'ops', [
          g.target('topk(10, sum by (%s) (rate(kernel_process_forks_total{%s}[$__rate_interval])))' % [byWorkload, node], legend),
        ]),
        g.timeseries('Exits by outcome', 'Whole-process exits per second on the node by outcome: success (exit code 0), failure (non-zero exit code) or signal (kernel_process_exits_total).', 'ops', [
          g.target('sum by (outcome) (rate(kernel_process_exits_total{%s}[$__rate_interval]))' % node, '{{outcome}}'),
        ], stack=true),
        g.timeseries('OOM kills', 'Processes of each workload killed by the OOM killer since the exporter started (kernel_oom_kills_total); a step is a kill.', 'short', [
          g.target('sum by (%s) (kernel_oom_kills_total{%s})' % [byWorkload, node], legend),
        ]),
      ]),
      g.row('Scheduling', [
        g.timeseries('Run-queue latency on the node', 'p50 and p99 of the time threads waited runnable for a CPU, over every workload of the node (kernel_runqueue_latency_seconds, native histogram or classic buckets).', 's', quantiles('kernel_runqueue_latency_seconds', node, '')),
        g.heatmap('Run-queue latency distribution', 'How long threads waited runnable for a CPU, over every workload of the node: wake-ups per second in each latency bucket (kernel_runqueue_latency_seconds, the native histogram where Prometheus ingests it, else the classic buckets).', 's', g.target(promql.heatmap('kernel_runqueue_latency_seconds', node, '$__rate_interval'))),
        g.timeseries('Run-queue latency p99 by workload', 'p99 of the time runnable threads waited for a CPU, over 5 minutes, of the 10 worst workloads (recording rule %s).' % r.runqueueLatencyP99, 's', [
          g.target('topk(10, %s{%s})' % [r.runqueueLatencyP99, node], legend),
        ]),
        g.timeseries('Run-queue wait by workload', 'Seconds spent waiting for a CPU per second, of the 10 most delayed workloads: about the number of its threads waiting at any time (kernel_runqueue_latency_seconds sum).', 's', [
          g.target('topk(10, %s)' % promql.sum('kernel_runqueue_latency_seconds', node, byWorkload, '$__rate_interval'), legend),
        ]),
      ]),
      g.row('TCP', [
        g.timeseries('Connections established', 'TCP connections established per second by direction and family (kernel_tcp_connections_total).', 'ops', [
          g.target('sum by (direction, family) (rate(kernel_tcp_connections_total{%s}[$__rate_interval]))' % node, '{{direction}} {{family}}'),
        ]),
        g.timeseries('Connect failures by workload', 'Outbound connects per second that failed (refused, timed out, unreachable), of the 10 worst workloads (kernel_tcp_connect_failures_total).', 'ops', [
          g.target('topk(10, sum by (%s) (rate(kernel_tcp_connect_failures_total{%s}[$__rate_interval])))' % [byWorkload, node], legend),
        ]),
        g.timeseries('Connect latency p99 by workload', 'p99 of the time from SYN to ESTABLISHED of outbound connects, over 5 minutes, of the 10 slowest workloads (recording rule %s).' % r.tcpConnectLatencyP99, 's', [
          g.target('topk(10, %s{%s})' % [r.tcpConnectLatencyP99, node], legend),
        ]),
        g.timeseries('Retransmits by workload', 'TCP segments retransmitted per second, over 5 minutes, by the 10 worst workloads (recording rule %s).' % r.tcpRetransmitsRate, 'pps', [
          g.target('topk(10, %s{%s})' % [r.tcpRetransmitsRate, node], legend),
        ]),
        g.timeseries('Resets', 'TCP resets sent and received per second (kernel_tcp_resets_total). Resets sent in reply to segments for no socket have no workload.', 'pps', [
          g.target('sum by (direction, family) (rate(kernel_tcp_resets_total{%s}[$__rate_interval]))' % node, '{{direction}} {{family}}'),
        ]),
      ]),
      g.row('Block I/O', [
        g.timeseries('Block I/O latency p99', 'p99 latency of block requests from issue to completion, over 5 minutes, by device and operation (recording rule %s).' % r.blockIOLatencyP99, 's', [
          g.target('%s{%s}' % [r.blockIOLatencyP99, node], '{{device}} {{operation}}'),
        ]),
        g.heatmap('Block I/O latency distribution', 'Latency of block requests from issue to completion, every device and operation of the node: requests per second in each latency bucket (kernel_block_io_latency_seconds, native histogram or classic buckets).', 's', g.target(promql.heatmap('kernel_block_io_latency_seconds', node, '$__rate_interval'))),
        g.timeseries('Block I/O requests', 'Block requests completed per second by device and operation (kernel_block_io_latency_seconds count).', 'iops', [
          g.target(promql.count('kernel_block_io_latency_seconds', node, 'device, operation', '$__rate_interval'), '{{device}} {{operation}}'),
        ]),
      ]),
      exporter.row(c, node, {
        eventsLost: 'map_full and start_full mean a BPF map is full, ringbuf_full a ring buffer.',
        maps: 'At 100% new series are lost.',
      }),
    ],
  );

local drilldown(c, r) =
  local workload = g.workloadSelector(c);
  g.dashboard(
    c,
    'Kernel / Workload',
    'bpfleet-kernel-workload',
    'Processes, OOM kills, run-queue latency and TCP of the workloads chosen by namespace, pod, container and cgroup, seen by kernel_exporter.',
    c.dashboardTags,
    g.workloadVariables(c, 'kernel_exporter_build_info', c.kernelSelector, '__name__=~"kernel_process_execs_total|kernel_process_forks_total|kernel_runqueue_latency_seconds(_count)?"'),
    [
      g.row('Processes', [
        g.timeseries('Execs', 'Successful execve calls per second (kernel_process_execs_total).', 'ops', [
          g.target('sum by (%s) (rate(kernel_process_execs_total{%s}[$__rate_interval]))' % [byWorkload, workload], legend),
        ]),
        g.timeseries('Forks', 'New processes per second; threads are not counted (kernel_process_forks_total).', 'ops', [
          g.target('sum by (%s) (rate(kernel_process_forks_total{%s}[$__rate_interval]))' % [byWorkload, workload], legend),
        ]),
        g.timeseries('Exits by outcome', 'Whole-process exits per second by outcome: success, failure (non-zero exit code) or signal (kernel_process_exits_total).', 'ops', [
          g.target('sum by (%s, outcome) (rate(kernel_process_exits_total{%s}[$__rate_interval]))' % [byWorkload, workload], '{{outcome}} ' + legend),
        ]),
        g.timeseries('OOM kills', 'Processes killed by the OOM killer since the exporter started (kernel_oom_kills_total); a step is a kill.', 'short', [
          g.target('sum by (%s) (kernel_oom_kills_total{%s})' % [byWorkload, workload], legend),
        ]),
      ]),
      g.row('Scheduling', [
        g.timeseries('Run-queue latency', 'p50 and p99 of the time runnable threads waited for a CPU (kernel_runqueue_latency_seconds, native histogram or classic buckets).', 's', quantiles('kernel_runqueue_latency_seconds', workload, byWorkload)),
        g.heatmap('Run-queue latency distribution', 'How long runnable threads of the chosen workloads waited for a CPU: wake-ups per second in each latency bucket (kernel_runqueue_latency_seconds, native histogram or classic buckets).', 's', g.target(promql.heatmap('kernel_runqueue_latency_seconds', workload, '$__rate_interval'))),
        g.timeseries('Run-queue wait', 'Seconds spent waiting for a CPU per second: about the number of threads waiting at any time (kernel_runqueue_latency_seconds sum).', 's', [
          g.target(promql.sum('kernel_runqueue_latency_seconds', workload, byWorkload, '$__rate_interval'), legend),
        ]),
      ]),
      g.row('TCP', [
        g.timeseries('Connections established', 'TCP connections established per second by direction and family (kernel_tcp_connections_total).', 'ops', [
          g.target('sum by (%s, direction, family) (rate(kernel_tcp_connections_total{%s}[$__rate_interval]))' % [byWorkload, workload], '{{direction}} {{family}} ' + legend),
        ]),
        g.timeseries('Connect failures', 'Outbound connects per second that failed: refused, timed out or unreachable (kernel_tcp_connect_failures_total).', 'ops', [
          g.target('sum by (%s, family) (rate(kernel_tcp_connect_failures_total{%s}[$__rate_interval]))' % [byWorkload, workload], '{{family}} ' + legend),
        ]),
        g.timeseries('Connect latency', 'p50 and p99 of the time from SYN to ESTABLISHED of outbound connects (kernel_tcp_connect_latency_seconds, native histogram or classic buckets).', 's', quantiles('kernel_tcp_connect_latency_seconds', workload, byWorkload)),
        g.heatmap('Connect latency distribution', 'Time from SYN to ESTABLISHED of the outbound connects of the chosen workloads: connects per second in each latency bucket (kernel_tcp_connect_latency_seconds, native histogram or classic buckets).', 's', g.target(promql.heatmap('kernel_tcp_connect_latency_seconds', workload, '$__rate_interval'))),
        g.timeseries('Retransmits', 'TCP segments retransmitted per second, over 5 minutes (recording rule %s).' % r.tcpRetransmitsRate, 'pps', [
          g.target('%s{%s}' % [r.tcpRetransmitsRate, workload], legend),
        ]),
        g.timeseries('Resets', 'TCP resets sent and received per second (kernel_tcp_resets_total).', 'pps', [
          g.target('sum by (%s, direction) (rate(kernel_tcp_resets_total{%s}[$__rate_interval]))' % [byWorkload, workload], '{{direction}} ' + legend),
        ]),
      ]),
    ],
  );

{
  grafanaDashboards+:: {
    'kernel-node.json': overview($._config, $._records),
    'kernel-workload.json': drilldown($._config, $._records),
  },
}
