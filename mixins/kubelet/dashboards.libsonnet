local g = import '../lib/dashboard.libsonnet';
local promql = import '../lib/promql.libsonnet';

local labels = ['namespace', 'pod'];
local byPod = 'instance, namespace, pod';
local byContainer = 'instance, namespace, pod, container';
local podLegend = '{{namespace}}/{{pod}} on {{instance}}';
local containerLegend = '{{namespace}}/{{pod}}/{{container}} on {{instance}}';

// What the kubelet knows of storage, eviction pressure and pod resources,
// from its Summary API: the pods chosen by namespace and pod across the
// nodes, and those nodes.
local dashboard(c, r) =
  local node = g.nodeSelector(c);
  local pods = g.workloadSelector(c, labels);
  g.dashboard(
    c,
    'Kubelet / Storage and eviction',
    'bpfleet-kubelet-storage',
    "Ephemeral storage of pods against their limits, container logs and writable layers, the kubelet's eviction signals against its thresholds, node filesystems, pressure stall information and the kubelet's responsiveness, seen by kubelet_exporter from the kubelet's Summary API.",
    c.dashboardTags,
    g.workloadVariables(c, 'kubelet_summary_exporter_build_info', c.kubeletSelector, '__name__="kubelet_summary_pod_ephemeral_storage_used_bytes"', labels),
    [
      g.row('Ephemeral storage', [
        g.timeseries('Ephemeral storage used / limit', 'Share of its ephemeral-storage limit each of the 10 fullest pods uses (recording rule %s); the kubelet evicts a pod at 100%%. Pods without a limit are not shown (kubelet_exporter needs --kubelet.pods for the limits).' % r.ephemeralStorageRatio, 'percentunit', [
          g.target('topk(10, %s{%s})' % [r.ephemeralStorageRatio, pods], podLegend),
        ]),
        g.timeseries('Ephemeral storage used', "Bytes of ephemeral storage used by the 10 largest pods: their containers' writable layers and logs and their local volumes (kubelet_summary_pod_ephemeral_storage_used_bytes).", 'bytes', [
          g.target('topk(10, sum by (%s) (kubelet_summary_pod_ephemeral_storage_used_bytes{%s}))' % [byPod, pods], podLegend),
        ]),
        g.table('Pods by ephemeral storage', 'Used bytes and limit of the chosen pods, largest first (kubelet_summary_pod_ephemeral_storage_used_bytes, kubelet_summary_pod_ephemeral_storage_limit_bytes).', 'bytes', [
          g.target('sum by (%s) (kubelet_summary_pod_ephemeral_storage_used_bytes{%s})' % [byPod, pods]),
          g.target('sum by (%s) (kubelet_summary_pod_ephemeral_storage_limit_bytes{%s})' % [byPod, pods]),
        ]),
        g.timeseries('Volumes used', "Bytes used in the 10 fullest non-PVC volumes of the chosen pods, by volume and type (kubelet_summary_pod_volume_used_bytes); PVCs are the kubelet's own kubelet_volume_stats_*.", 'bytes', [
          g.target('topk(10, sum by (%s, volume, type) (kubelet_summary_pod_volume_used_bytes{%s}))' % [byPod, pods], '{{volume}} ({{type}}) ' + podLegend),
        ]),
      ]),
      g.row('Logs and writable layers', [
        g.timeseries('Log growth', 'Bytes per second by which the logs of the 10 fastest-growing containers grow (deriv of kubelet_summary_container_logs_used_bytes): what fills ephemeral storage and nodefs.', 'Bps', [
          g.target('topk(10, sum by (%s) (deriv(kubelet_summary_container_logs_used_bytes{%s}[$__rate_interval])))' % [byContainer, pods], containerLegend),
        ]),
        g.timeseries('Logs used', 'Bytes of log files of the 10 containers with the most (kubelet_summary_container_logs_used_bytes).', 'bytes', [
          g.target('topk(10, sum by (%s) (kubelet_summary_container_logs_used_bytes{%s}))' % [byContainer, pods], containerLegend),
        ]),
        g.timeseries('Writable layers used', "Bytes used by the 10 largest containers' writable layers (kubelet_summary_container_rootfs_used_bytes).", 'bytes', [
          g.target('topk(10, sum by (%s) (kubelet_summary_container_rootfs_used_bytes{%s}))' % [byContainer, pods], containerLegend),
        ]),
      ]),
      g.row('Eviction', [
        g.timeseries('Eviction signals / thresholds', "What is left of each eviction signal over the kubelet's threshold for it, in _config.evictionThresholds (recording rule %s): at 1 the kubelet evicts pods; KubeletNodeNearEviction fires below %g." % [r.evictionRatio, c.evictionMargin], 'none', [
          g.target('%s{%s}' % [r.evictionRatio, node], '{{signal}} on {{instance}}'),
        ]),
        g.timeseries('Eviction signals', 'What is left of the resource each eviction signal watches, as the eviction manager compares it: bytes for *.available, inodes for *.inodesFree, processes for pid.available (kubelet_summary_node_eviction_signal_available).', 'short', [
          g.target('kubelet_summary_node_eviction_signal_available{%s}' % node, '{{signal}} on {{instance}}'),
        ]),
        g.timeseries('Filesystems available', 'Share of each node filesystem available: nodefs (the kubelet root dir), imagefs, containerfs (kubelet_summary_node_fs_available_bytes / kubelet_summary_node_fs_capacity_bytes).', 'percentunit', [
          g.target('kubelet_summary_node_fs_available_bytes{%s} / kubelet_summary_node_fs_capacity_bytes{%s}' % [node, node], '{{fs}} on {{instance}}'),
        ]),
        g.timeseries('Processes', 'Processes running on the node against its pid_max (kubelet_summary_node_rlimit_processes, kubelet_summary_node_rlimit_max_pid).', 'short', [
          g.target('kubelet_summary_node_rlimit_processes{%s}' % node, 'running on {{instance}}'),
          g.target('kubelet_summary_node_rlimit_max_pid{%s}' % node, 'pid_max on {{instance}}'),
        ]),
      ]),
      g.row('Pressure stall information', [
        g.timeseries('Pods stalled', "Share of time the tasks of the 10 most stalled pods waited on a resource (cpu, memory, io; some: at least one task, full: all), from the kernel's pressure stall information (kubelet_summary_pod_psi_stalled_seconds_total). Empty where the kubelet reports no PSI (cgroup v1, or the KubeletPSI feature off).", 'percentunit', [
          g.target('topk(10, sum by (%s, resource, kind) (rate(kubelet_summary_pod_psi_stalled_seconds_total{%s}[$__rate_interval])))' % [byPod, pods], '{{resource}} {{kind}} ' + podLegend),
        ]),
        g.timeseries('Pod processes', 'Processes running in each of the 10 pods with the most (kubelet_summary_pod_processes).', 'short', [
          g.target('topk(10, sum by (%s) (kubelet_summary_pod_processes{%s}))' % [byPod, pods], podLegend),
        ]),
      ]),
      g.row('Kubelet', [
        g.stat('Summary API', "Whether kubelet_exporter read its kubelet's Summary API at the last scrape, on every chosen node (kubelet_summary_scrape_collector_success{collector=\"summary\"}); 0 also for 401/403 (the RBAC: nodes/stats).", 'bool_on_off', [
          g.target('min by (instance) (kubelet_summary_scrape_collector_success{%s, collector="summary"})' % node, '{{instance}}'),
        ]),
        g.heatmap('Kubelet request latency distribution', "Time the kubelet took to answer the exporter's requests, every endpoint on the chosen nodes: requests per second in each latency bucket (kubelet_summary_request_duration_seconds, the native histogram where Prometheus ingests it, else the classic buckets).", 's', g.target(promql.heatmap('kubelet_summary_request_duration_seconds', node, '$__rate_interval'))),
        g.timeseries('Kubelet request latency p99', "p99 of the time the kubelet took to answer the exporter's requests, by endpoint and code (kubelet_summary_request_duration_seconds, native histogram or classic buckets).", 's', [
          g.target(promql.quantile('0.99', 'kubelet_summary_request_duration_seconds', node, 'endpoint, code', '$__rate_interval'), '{{endpoint}} {{code}}'),
        ]),
      ]),
    ],
  );

{
  grafanaDashboards+:: {
    'kubelet-storage.json': dashboard($._config, $._records),
  },
}
