local promql = import '../lib/promql.libsonnet';

{
  // The recording rules' names, for the alerts and dashboards that read
  // them.
  _records:: {
    ephemeralStorageRatio: 'instance_pod:kubelet_summary_pod_ephemeral_storage:used_ratio_limit',
    evictionRatio: 'instance_signal:kubelet_summary_node_eviction_signal_available:ratio_threshold',
  },

  prometheusRules+:: {
    local c = $._config,
    local sel = c.kubeletSelector,
    local node = promql.by(c),
    // signal returns what is left of eviction signal name over its
    // threshold t: 1 at the threshold, where the kubelet starts evicting.
    local signal(name, t) =
      if std.objectHas(t, 'ratio') then
        '(\n  kubelet_summary_node_eviction_signal_available{%(sel)s, signal="%(s)s"}\n  / on (%(node)s) group_left\n  kubelet_summary_node_fs_capacity_bytes{%(sel)s, fs="%(fs)s"}\n) / %(t)g' % { sel: sel, s: name, node: node, fs: t.fs, t: t.ratio }
      else
        'kubelet_summary_node_eviction_signal_available{%(sel)s, signal="%(s)s"} / %(t)s' % { sel: sel, s: name, t: std.toString(t.value) },
    groups+: [{
      name: 'kubelet-exporter.rules',
      rules: [
        {
          record: $._records.ephemeralStorageRatio,
          expr: |||
            kubelet_summary_pod_ephemeral_storage_used_bytes{%(sel)s}
            / on (%(by)s)
            (kubelet_summary_pod_ephemeral_storage_limit_bytes{%(sel)s} > 0)
          ||| % { sel: sel, by: promql.byPod(c) },
        },
        {
          record: $._records.evictionRatio,
          expr: std.join('\nor\n', [signal(name, c.evictionThresholds[name]) for name in std.objectFields(c.evictionThresholds)]),
        },
      ],
    }],
  },
}
