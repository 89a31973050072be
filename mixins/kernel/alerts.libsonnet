local alerts = import '../lib/alerts.libsonnet';
local exporter = import '../lib/exporter.libsonnet';
local promql = import '../lib/promql.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local sel = c.kernelSelector,
    local rule(name, expr, forDuration, summary, description) =
      alerts.alert(name, expr, forDuration, 'warning', summary, description, c.runbookURLBase),
    groups+: [{
      name: 'kernel-exporter',
      rules: exporter.alerts(c),
    }, {
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
          ||| % { by: promql.byWorkload, sel: sel, w: c.oomKillWindow },
          c.oomKilledFor,
          'A workload lost a process to the OOM killer.',
          'The OOM killer chose processes of %s on {{ $labels.instance }} as its victims: {{ $value | humanize }} in the last %s.' % [alerts.workload, c.oomKillWindow],
        ),
        rule(
          'KernelTCPRetransmitsHigh',
          '%s{%s} > %g' % [$._records.tcpRetransmitsRate, sel, c.tcpRetransmitsThreshold],
          c.tcpRetransmitsFor,
          'A workload retransmits many TCP segments.',
          '%s on {{ $labels.instance }} retransmits {{ printf "%%.3g" $value }} TCP segments per second (threshold %g): packet loss or a congested or unreachable peer.' % [alerts.workload, c.tcpRetransmitsThreshold],
        ),
        rule(
          'KernelRunqueueLatencyHigh',
          '%s{%s} > %g' % [$._records.runqueueLatencyP99, sel, c.runqueueLatencyThreshold],
          c.runqueueLatencyFor,
          'A workload waits long for a CPU.',
          'The p99 time runnable threads of %s on {{ $labels.instance }} wait for a CPU is {{ $value | humanizeDuration }} (threshold %gs): the node is CPU-saturated or the workload is throttled.' % [alerts.workload, c.runqueueLatencyThreshold],
        ),
        rule(
          'KernelBlockIOLatencyHigh',
          '%s{%s, operation=~"%s"} > %g' % [$._records.blockIOLatencyP99, sel, c.blockIOLatencyOperations, c.blockIOLatencyThreshold],
          c.blockIOLatencyFor,
          'A block device is slow.',
          'The p99 latency of {{ $labels.operation }} requests to {{ $labels.device }} on {{ $labels.instance }} is {{ $value | humanizeDuration }} (threshold %gs).' % c.blockIOLatencyThreshold,
        ),
      ],
    }],
  },
}
