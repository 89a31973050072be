local g = import '../lib/dashboard.libsonnet';
local exporter = import '../lib/exporter.libsonnet';
local promql = import '../lib/promql.libsonnet';

local byPod = 'instance, namespace, pod';
local podLegend = '{{namespace}}/{{pod}} on {{instance}}';
local rangeLegend = '{{network}} {{range}} on {{instance}}';

// addLatency is p50 and p99 of ADD durations by plugin over
// $__rate_interval, from the native histogram or the classic buckets.
local addLatency(node) = [
  g.target(promql.quantile(q, 'cni_plugin_duration_seconds', node + ', command="ADD"', 'plugin', '$__rate_interval'), 'p' + std.strReplace(q, '0.', '') + ' {{plugin}}')
  for q in ['0.5', '0.99']
];

local dashboard(c, r) =
  local node = g.nodeSelector(c);
  local pods = g.workloadSelector(c, ['namespace', 'pod']);
  g.dashboard(
    c,
    'CNI / Overview',
    'bpfleet-cni-overview',
    'CNI plugin calls, failures and latency, network namespaces, IPAM pool usage and packet drops by reason and pod on the chosen nodes, seen by cni_exporter.',
    c.dashboardTags,
    g.jobInstanceVariables(c, 'cni_exporter_build_info', c.cniSelector, multiInstance=true)
    // Only the drops have pods: namespace and pod, no container or cgroup.
    + g.drillVariables(c, '__name__="cni_packet_drops_total"', ['namespace', 'pod']),
    [
      g.row('Plugins', [
        g.timeseries('Invocations by plugin and command', 'CNI plugin runs per second by plugin and command (ADD, DEL, CHECK, VERSION, GC, STATUS), seen from their exec and exit in the kernel (cni_plugin_invocations_total). Chained plugins count separately.', 'ops', [
          g.target('sum by (plugin, command) (rate(cni_plugin_invocations_total{%s}[$__rate_interval]))' % node, '{{plugin}} {{command}}'),
        ]),
        g.timeseries('Failures by plugin and command', 'CNI plugin runs per second that exited with a non-zero status, by plugin and command (cni_plugin_invocations_total{result="failure"}).', 'ops', [
          g.target('sum by (plugin, command) (rate(cni_plugin_invocations_total{%s, result="failure"}[$__rate_interval]))' % node, '{{plugin}} {{command}}'),
        ]),
        g.timeseries('ADD failure share', 'Share of the ADD calls of each plugin that failed, over 5 minutes (recording rule %s): a failed ADD is a pod sandbox without a network.' % r.resultRatio, 'percentunit', [
          g.target('%s{%s, command="ADD", result="failure"}' % [r.resultRatio, node], '{{plugin}} on {{instance}}'),
        ]),
      ]),
      g.row('Latency', [
        g.timeseries('ADD latency by plugin', 'p50 and p99 of the time from exec to exit of the ADD calls of each plugin, over the chosen nodes (cni_plugin_duration_seconds, native histogram or classic buckets). A chained plugin includes its IPAM plugin.', 's', addLatency(node)),
        g.heatmap('ADD latency distribution', 'Time from exec to exit of the ADD calls of every plugin on the chosen nodes: calls per second in each duration bucket (cni_plugin_duration_seconds, the native histogram where Prometheus ingests it, else the classic buckets).', 's', g.target(promql.heatmap('cni_plugin_duration_seconds', node + ', command="ADD"', '$__rate_interval'))),
        g.timeseries('Latency p99 by plugin and command', 'p99 of the time from exec to exit of each plugin and command, over 5 minutes (recording rule %s).' % r.durationP99, 's', [
          g.target('%s{%s}' % [r.durationP99, node], '{{plugin}} {{command}} on {{instance}}'),
        ]),
      ]),
      g.row('Network namespaces', [
        g.timeseries('Network namespaces', 'Network namespaces alive on each node (cni_network_namespaces): about one per pod sandbox, plus the host.', 'short', [
          g.target('sum by (instance) (cni_network_namespaces{%s})' % node, '{{instance}}'),
        ]),
        g.timeseries('Network namespaces created', 'Network namespaces created per second on each node, seen in the kernel (cni_network_namespaces_created_total).', 'ops', [
          g.target('sum by (instance) (rate(cni_network_namespaces_created_total{%s}[$__rate_interval]))' % node, '{{instance}}'),
        ]),
      ]),
      g.row('IPAM', [
        g.timeseries('Pool usage', 'Share of the addresses of each IPAM range that are allocated (recording rule %s). At 100%% the next pod on the node gets no address and its ADD fails.' % r.ipamUsage, 'percentunit', [
          g.target('%s{%s}' % [r.ipamUsage, node], rangeLegend),
        ]),
        g.timeseries('Addresses allocated and capacity', 'Addresses allocated in each IPAM range (cni_ipam_addresses_allocated) and how many it can hand out (cni_ipam_addresses_capacity).', 'short', [
          g.target('sum by (instance, network, range) (cni_ipam_addresses_allocated{%s})' % node, 'allocated ' + rangeLegend),
          g.target('sum by (instance, network, range) (cni_ipam_addresses_capacity{%s})' % node, 'capacity ' + rangeLegend),
        ]),
      ]),
      g.row('Packet drops', [
        g.timeseries('Drops by reason', 'Packets the kernel dropped per second in the chosen pods, by drop reason (cni_packet_drops_total, from skb:kfree_skb).', 'pps', [
          g.target('sum by (reason) (rate(cni_packet_drops_total{%s}[$__rate_interval]))' % pods, '{{reason}}'),
        ], stack=true),
        g.timeseries('Top pods by drops', 'Packets dropped per second in the network namespaces of the 10 pods that drop the most (cni_packet_drops_total).', 'pps', [
          g.target('topk(10, sum by (%s) (rate(cni_packet_drops_total{%s}[$__rate_interval])))' % [byPod, pods], podLegend),
        ]),
        g.table('Top drops by pod and reason', 'The 10 pod and drop reason pairs with the most drops per second (cni_packet_drops_total).', 'pps', [
          g.target('topk(10, sum by (%s, reason) (rate(cni_packet_drops_total{%s}[$__rate_interval])))' % [byPod, pods]),
        ]),
      ]),
      exporter.row(c, node, {
        eventsLost: 'ringbuf_full and start_full lose plugin runs, unpaired is an exit without its exec.',
        maps: 'plugin_starts holds plugins running now.',
      }),
    ],
  );

{
  grafanaDashboards+:: {
    'cni-overview.json': dashboard($._config, $._records),
  },
}
