local alerts = import '../lib/alerts.libsonnet';
local exporter = import '../lib/exporter.libsonnet';
local promql = import '../lib/promql.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local sel = c.cniSelector,
    local byPlugin = promql.by(c, ['plugin']),
    // ADD calls of a plugin on a node over 5 minutes: the floor of the ADD
    // alerts.
    local addCalls = 'sum by (%s) (increase(cni_plugin_invocations_total{%s, command="ADD"}[5m]))' % [byPlugin, sel],
    local rule(name, expr, forDuration, summary, description) =
      alerts.alert(name, expr, forDuration, 'warning', summary, description, c),
    groups+: [{
      name: 'cni-exporter',
      rules: exporter.alerts(c),
    }, {
      name: 'cni-plugins',
      rules: [
        rule(
          'CNIAddFailing',
          promql.atLeast(
            'max by (%s) (%s{%s, command="ADD", result="failure"}) > %g' % [byPlugin, $._records.resultRatio, sel, c.addFailureRatioThreshold],
            addCalls,
            byPlugin,
            c.addFailureMinCalls,
          ),
          c.addFailuresFor,
          'A CNI plugin fails to set up pod networks.',
          '{{ $value | humanizePercentage }} of the ADD calls of CNI plugin {{ $labels.plugin }} on %s fail (threshold %g%%): new pods there get no network and stay in ContainerCreating.' % [alerts.where(c), c.addFailureRatioThreshold * 100],
        ),
        rule(
          'CNIAddLatencyHigh',
          promql.atLeast(
            'max by (%s) (%s{%s, command="ADD"}) > %g' % [byPlugin, $._records.durationP99, sel, c.addLatencyThreshold],
            promql.countIncrease('cni_plugin_duration_seconds', sel + ', command="ADD"', byPlugin, '5m'),
            byPlugin,
            c.addLatencyMinCalls,
          ),
          c.addLatencyFor,
          'A CNI plugin is slow to set up pod networks.',
          'The p99 duration of the ADD calls of CNI plugin {{ $labels.plugin }} on %s is {{ $value | humanizeDuration }} (threshold %gs): pods there start slowly.' % [alerts.where(c), c.addLatencyThreshold],
        ),
      ],
    }, {
      name: 'cni-ipam',
      rules: [
        rule(
          'CNIIPAMPoolNearlyFull',
          '%s{%s} > %g' % [$._records.ipamUsage, sel, c.ipamUsageThreshold],
          c.ipamUsageFor,
          'An IPAM address pool is nearly full.',
          '{{ $value | humanizePercentage }} of the addresses of range {{ $labels.range }} of network {{ $labels.network }} on %s are allocated (threshold %g%%): when it is full, new pods there get no address.' % [alerts.where(c), c.ipamUsageThreshold * 100],
        ),
      ],
    }],
  },
}
