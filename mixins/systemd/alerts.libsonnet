local alerts = import '../lib/alerts.libsonnet';
local exporter = import '../lib/exporter.libsonnet';
local promql = import '../lib/promql.libsonnet';

{
  prometheusAlerts+:: {
    local c = $._config,
    local sel = c.systemdSelector,
    local rule(name, expr, forDuration, severity, summary, description) =
      alerts.alert(name, expr, forDuration, severity, summary, description, c),
    groups+: [{
      name: 'systemd-exporter',
      rules: exporter.alerts(c),
    }, {
      name: 'systemd-units',
      rules: [
        rule(
          'SystemdUnitFailed',
          'systemd_unit_state{%s, state="failed"} == 1' % sel,
          c.unitFailedFor,
          'warning',
          'A systemd unit is in the failed state.',
          'Unit {{ $labels.name }} on %s has been failed for %s.' % [alerts.where(c), c.unitFailedFor],
        ),
        // The transitions counter sees every activation, also those
        // between two scrapes; a series new within the window counts with
        // its whole value.
        rule(
          'SystemdUnitFlapping',
          |||
            sum by (%(by)s) (
              (systemd_unit_state_transitions_total{%(sel)s, state="active"} unless systemd_unit_state_transitions_total{%(sel)s, state="active"} offset %(w)s)
              or
              increase(systemd_unit_state_transitions_total{%(sel)s, state="active"}[%(w)s])
            ) > %(n)d
          ||| % { sel: sel, w: c.flappingWindow, n: c.flappingActivations, by: promql.by(c, ['name']) },
          c.flappingFor,
          'warning',
          'A systemd unit keeps restarting.',
          'Unit {{ $labels.name }} on %s became active {{ $value | humanize }} times in the last %s.' % [alerts.where(c), c.flappingWindow],
        ),
        rule(
          'SystemdUnitOOMKilled',
          |||
            sum by (%(by)s) (
              (systemd_unit_oom_kills_total{%(sel)s} unless systemd_unit_oom_kills_total{%(sel)s} offset %(w)s)
              or
              increase(systemd_unit_oom_kills_total{%(sel)s}[%(w)s])
            ) > 0
          ||| % { sel: sel, w: c.oomKillWindow, by: promql.by(c, ['name']) },
          c.oomKilledFor,
          'warning',
          'A systemd unit lost a process to the OOM killer.',
          'The OOM killer chose processes of unit {{ $labels.name }} on %s as its victims: {{ $value | humanize }} in the last %s. Child processes count, also where the unit keeps running.' % [alerts.where(c), c.oomKillWindow],
        ),
      ],
    }],
  },
}
