local alerts = import '../lib/alerts.libsonnet';
local exporter = import '../lib/exporter.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local sel = c.cniSelector,
    local rule(name, expr, forDuration, summary, description) =
      alerts.alert(name, expr, forDuration, 'warning', summary, description, c.runbookURLBase),
    groups+: [{
      name: 'cni-exporter',
      rules: exporter.alerts(c),
    }, {
      name: 'cni-plugins',
      rules: [
        rule(
          'CNIAddFailing',
          '%s{%s, command="ADD", result="failure"} > %g' % [$._records.resultRatio, sel, c.addFailureRatioThreshold],
          c.addFailuresFor,
          'A CNI plugin fails to set up pod networks.',
          '{{ $value | humanizePercentage }} of the ADD calls of CNI plugin {{ $labels.plugin }} on {{ $labels.instance }} fail (threshold %g%%): new pods there get no network and stay in ContainerCreating.' % (c.addFailureRatioThreshold * 100),
        ),
        rule(
          'CNIAddLatencyHigh',
          '%s{%s, command="ADD"} > %g' % [$._records.durationP99, sel, c.addLatencyThreshold],
          c.addLatencyFor,
          'A CNI plugin is slow to set up pod networks.',
          'The p99 duration of the ADD calls of CNI plugin {{ $labels.plugin }} on {{ $labels.instance }} is {{ $value | humanizeDuration }} (threshold %gs): pods there start slowly.' % c.addLatencyThreshold,
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
          '{{ $value | humanizePercentage }} of the addresses of range {{ $labels.range }} of network {{ $labels.network }} on {{ $labels.instance }} are allocated (threshold %g%%): when it is full, new pods there get no address.' % (c.ipamUsageThreshold * 100),
        ),
      ],
    }],
  },
}
