// A fleet's own rendering of the bpfleet mixins, as mixins/README.md
// ("Install") describes: vendored with `jb install` (from git, or as here
// a local path dependency, see jsonnetfile.json beside this file), then
//
//   jsonnet -J vendor -S -c -m out fleet.jsonnet
//
// writes out/<mixin>/alerts.yaml, rules.yaml, prometheusrule.json and
// dashboards/*.json. `mixins/...` is jb's legacy import name of the package
// (git installs also have github.com/bpfleet/bpfleet/mixins/...).
local fleet = {
  _config+:: {
    clusterLabel: 'k8s_cluster',
    showMultiCluster: true,
    dashboardTitlePrefix: 'Fleet / ',
    severities+: { critical: 'page' },
  },
};
local mixins = {
  kernel: (import 'mixins/kernel/mixin.libsonnet') + fleet + {
    _config+:: { kernelSelector: 'job="node-ebpf"' },
  },
  dns: (import 'mixins/dns/mixin.libsonnet') + fleet + {
    _config+:: { unansweredMinQueriesRate: 1 },
  },
};
{
  [name + '/alerts.yaml']: std.manifestYamlDoc(mixins[name].prometheusAlerts)
  for name in std.objectFields(mixins)
} + {
  [name + '/rules.yaml']: std.manifestYamlDoc(mixins[name].prometheusRules)
  for name in std.objectFields(mixins)
} + {
  [name + '/prometheusrule.json']: std.manifestJsonEx({
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'bpfleet-' + name },
    spec: { groups: mixins[name].prometheusAlerts.groups + mixins[name].prometheusRules.groups },
  }, '  ')
  for name in std.objectFields(mixins)
} + {
  [name + '/dashboards/' + d]: std.manifestJsonEx(mixins[name].grafanaDashboards[d], '  ')
  for name in std.objectFields(mixins)
  for d in std.objectFields(mixins[name].grafanaDashboards)
}
