local g = import '../lib/dashboard.libsonnet';
local exporter = import '../lib/exporter.libsonnet';
local promql = import '../lib/promql.libsonnet';

local legend = '{{name}} on {{instance}}';

local dashboard(c, r) =
  local node = g.nodeSelector(c);
  g.dashboard(
    c,
    'systemd / Overview',
    'bpfleet-systemd-overview',
    'Failed and flapping systemd units, failures by reason, process exits, restarts, memory and CPU of the top units, and OOM kills per unit on the chosen nodes, seen by systemd_exporter.',
    c.dashboardTags,
    g.jobInstanceVariables(c, 'systemd_exporter_build_info', c.systemdSelector, multiInstance=true),
    [
      g.row('Units', [
        g.stat('System running', "Whether systemd's SystemState is running on every chosen node (systemd_system_running): degraded means a unit failed.", 'bool_on_off', [
          g.target('min by (instance) (systemd_system_running{%s})' % node, '{{instance}}'),
        ]),
        g.timeseries('Units by state', 'Units that pass the exporter filters, by ActiveState (systemd_units).', 'short', [
          g.target('sum by (state) (systemd_units{%s})' % node, '{{state}}'),
        ], stack=true),
        g.table('Failed units', 'Units in the failed state now (systemd_unit_state).', 'none', [
          g.target('systemd_unit_state{%s, state="failed"} == 1' % node),
        ]),
      ]),
      g.row('Failures and restarts', [
        g.timeseries('Failures by reason', "Runs of services that ended unsuccessfully, per second, by systemd's Result, also those between scrapes (systemd_service_failures_total).", 'ops', [
          g.target('sum by (result) (rate(systemd_service_failures_total{%s}[$__rate_interval]))' % node, '{{result}}'),
        ], stack=true),
        g.timeseries('Flapping units', 'Activations per second of the 10 units that became active most often (systemd_unit_state_transitions_total, state active).', 'ops', [
          g.target('topk(10, sum by (instance, name) (rate(systemd_unit_state_transitions_total{%s, state="active"}[$__rate_interval])))' % node, legend),
        ]),
        g.timeseries('Process exits by outcome', "Exits per second of all processes in the units' cgroups, seen in the kernel, by outcome: success, failure (non-zero code) or signal (systemd_unit_process_exits_total).", 'ops', [
          g.target('sum by (outcome) (rate(systemd_unit_process_exits_total{%s}[$__rate_interval]))' % node, '{{outcome}}'),
        ], stack=true),
        g.timeseries('Restarts', 'Automatic restarts per second of the 10 services systemd restarted most (systemd_service_restart_total).', 'ops', [
          g.target('topk(10, sum by (instance, name) (rate(systemd_service_restart_total{%s}[$__rate_interval])))' % node, legend),
        ]),
      ]),
      g.row('Resources', [
        g.timeseries('Memory, top 10 units', "Memory of the 10 largest units' cgroups, where memory accounting is on (systemd_unit_memory_bytes).", 'bytes', [
          g.target('topk(10, sum by (instance, name) (systemd_unit_memory_bytes{%s}))' % node, legend),
        ]),
        g.timeseries('CPU, top 10 units', "CPU of the 10 busiest units' cgroups, where CPU accounting is on (systemd_unit_cpu_seconds_total).", 'percentunit', [
          g.target('topk(10, sum by (instance, name) (rate(systemd_unit_cpu_seconds_total{%s}[$__rate_interval])))' % node, legend),
        ]),
        g.timeseries('OOM kills by unit', 'Processes of each unit killed by the OOM killer per second, seen in the kernel (systemd_unit_oom_kills_total), children of units that keep running included.', 'ops', [
          g.target('sum by (instance, name) (rate(systemd_unit_oom_kills_total{%s}[$__rate_interval])) > 0' % node, legend),
        ]),
        g.timeseries('Journal errors', 'Messages per second at priority err or worse of the 10 noisiest units, from the journal (systemd_journal_messages_total; the journal collector, off by default, in the binary built with the journal tag).', 'ops', [
          g.target('topk(10, sum by (instance, name) (rate(systemd_journal_messages_total{%s, priority=~"emerg|alert|crit|err"}[$__rate_interval]))) > 0' % node, legend),
        ]),
        g.heatmap('D-Bus latency distribution', "Time systemd took to answer the exporter's own D-Bus calls, every method on the chosen nodes: calls per second in each latency bucket (systemd_dbus_request_duration_seconds, the native histogram where Prometheus ingests it, else the classic buckets).", 's', g.target(promql.heatmap('systemd_dbus_request_duration_seconds', node, '$__rate_interval'))),
        g.timeseries('D-Bus latency p99', "p99 of the time systemd took to answer the exporter's own D-Bus calls, by method (recording rule %s): how responsive PID 1 is." % r.dbusLatencyP99, 's', [
          g.target('%s{%s}' % [r.dbusLatencyP99, node], '{{method}} on {{instance}}'),
        ]),
      ]),
      exporter.row(c, node, {
        collectors: 'unit fails while the D-Bus system bus is lost, oom while its BPF program is not loaded.',
        eventsLost: 'map_full means the OOM counter map is full.',
      }),
    ],
  );

{
  grafanaDashboards+:: {
    'systemd-overview.json': dashboard($._config, $._records),
  },
}
