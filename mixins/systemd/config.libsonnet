(import '../lib/config.libsonnet') + {
  _config+:: {
    // Selects systemd_exporter's series in rules and alerts, and its jobs
    // in the dashboards' job variable.
    systemdSelector: 'job="systemd-exporter"',
    // The exporter, for its health alerts and the dashboards' Exporter row
    // (lib/exporter.libsonnet).
    namespace: 'systemd',
    alertPrefix: 'Systemd',
    selector: self.systemdSelector,
    runbookURLBase: 'https://github.com/bpfleet/bpfleet/blob/main/mixins/systemd/runbook.md',
    dashboardTags: ['systemd'],

    programDetachedFor: '10m',
    collectorFailingFor: '15m',
    eventsLostFor: '15m',

    // A unit is in the failed state.
    unitFailedFor: '5m',

    // A unit flaps: it entered the active state more than
    // flappingActivations times in flappingWindow (a service that systemd
    // restarts again and again, between scrapes too).
    flappingWindow: '15m',
    flappingActivations: 3,
    flappingFor: '1m',

    // A unit lost a process to the OOM killer in the last oomKillWindow.
    oomKillWindow: '10m',
    oomKilledFor: '1m',
  },
}
