// The _config that every bpfleet mixin shares: how clusters are told
// apart, severities, the dashboards' title prefix and the exporter-down
// alert. Each mixin's config.libsonnet starts from it; override any of it
// in the mixin you import: (import 'mixin.libsonnet') + { _config+:: { ... } }.
{
  _config+:: {
    // The label that tells clusters apart (an external label, or a target
    // label set by relabelling) as kubernetes-mixin names it. Every
    // aggregation of a rule or alert keeps it, every dashboard query
    // selects it with the $cluster variable.
    clusterLabel: 'cluster',
    // Shows the dashboards' cluster variable. Off, it is hidden but still
    // there: with one Prometheus per cluster and no cluster label, it is
    // empty and its selector matches every series (kubernetes-mixin's
    // behaviour).
    showMultiCluster: false,

    // The start of every dashboard title.
    dashboardTitlePrefix: 'bpfleet / ',

    // The severity label value of each level (rename them to your
    // routing's: { critical: 'page', warning: 'ticket' }), and per-alert
    // levels: { KernelWorkloadOOMKilled: 'critical' } (a level name, not a
    // label value).
    severities: { critical: 'critical', warning: 'warning', info: 'info' },
    alertSeverities: {},

    // <Exporter>ExporterDown: targets of the exporter's job are down (up
    // == 0) or the job has no target at all, for this long.
    exporterDownFor: '10m',
  },
}
