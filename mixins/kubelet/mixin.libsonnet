// The kubelet_exporter monitoring mixin: alerts, recording rules and
// dashboards. Override _config to change selectors, thresholds and for
// durations: (import 'mixin.libsonnet') + { _config+:: { ... } }.
(import 'config.libsonnet') +
(import 'rules.libsonnet') +
(import 'alerts.libsonnet') +
(import 'dashboards.libsonnet')
