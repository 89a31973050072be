local alerts = import '../lib/alerts.libsonnet';
local exporter = import '../lib/exporter.libsonnet';
local promql = import '../lib/promql.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local sel = c.kernelSelector,
    local byPod = promql.byPod(c),
    local rule(name, expr, forDuration, summary, description) =
      alerts.alert(name, expr, forDuration, 'warning', summary, description, c),
    groups+: [{
      name: 'kernel-exporter',
      rules: exporter.alerts(c),
    }, {
      // Per pod (its containers and cgroups folded in), or per node for
      // processes outside pods: one alert for what one person acts on.
      name: 'kernel-workloads',
      rules: [
        // A workload's counter series appears with its first OOM kill, which
        // increase() cannot see: a series that is new within the window
        // counts with its whole value.
        rule(
          'KernelWorkloadOOMKilled',
          |||
            sum by (%(by)s) (
              (kernel_oom_kills_total{%(sel)s} unless kernel_oom_kills_total{%(sel)s} offset %(w)s)
              or
              increase(kernel_oom_kills_total{%(sel)s}[%(w)s])
            ) > 0
          ||| % { by: byPod, sel: sel, w: c.oomKillWindow },
          c.oomKilledFor,
          'A workload lost a process to the OOM killer.',
          'The OOM killer chose processes of %s on %s as its victims: {{ $value | humanize }} in the last %s.' % [alerts.workload, alerts.where(c), c.oomKillWindow],
        ),
        rule(
          'KernelTCPRetransmitsHigh',
          'sum by (%s) (rate(kernel_tcp_retransmits_total{%s}[5m])) > %g' % [byPod, sel, c.tcpRetransmitsThreshold],
          c.tcpRetransmitsFor,
          'A workload retransmits many TCP segments.',
          '%s on %s retransmits {{ printf "%%.3g" $value }} TCP segments per second (threshold %g): packet loss or a congested or unreachable peer.' % [alerts.workload, alerts.where(c), c.tcpRetransmitsThreshold],
        ),
        rule(
          'KernelRunqueueLatencyHigh',
          promql.atLeast(
            promql.quantile('0.99', 'kernel_runqueue_latency_seconds', sel, byPod, '5m') + ' > %g' % c.runqueueLatencyThreshold,
            promql.count('kernel_runqueue_latency_seconds', sel, byPod, '5m'),
            byPod,
            c.runqueueLatencyMinRate,
          ),
          c.runqueueLatencyFor,
          'A workload waits long for a CPU.',
          'The p99 time runnable threads of %s on %s wait for a CPU is {{ $value | humanizeDuration }} (threshold %gs): the node is CPU-saturated or the workload is throttled.' % [alerts.workload, alerts.where(c), c.runqueueLatencyThreshold],
        ),
        rule(
          'KernelBlockIOLatencyHigh',
          promql.atLeast(
            '%s{%s, operation=~"%s"} > %g' % [$._records.blockIOLatencyP99, sel, c.blockIOLatencyOperations, c.blockIOLatencyThreshold],
            promql.count('kernel_block_io_latency_seconds', sel, promql.by(c, ['device', 'operation']), '5m'),
            promql.by(c, ['device', 'operation']),
            c.blockIOLatencyMinRate,
          ),
          c.blockIOLatencyFor,
          'A block device is slow.',
          'The p99 latency of {{ $labels.operation }} requests to {{ $labels.device }} on %s is {{ $value | humanizeDuration }} (threshold %gs).' % [alerts.where(c), c.blockIOLatencyThreshold],
        ),
      ],
    }],
  },
}
