// Grafana dashboard builders shared by every bpfleet mixin: variables,
// panels and a row layout that numbers panels. Every panel queries the
// data source chosen in the $datasource variable.
local datasource = { type: 'prometheus', uid: '${datasource}' };

{
  // datasourceVariable picks the Prometheus data source.
  datasourceVariable:: {
    name: 'datasource',
    label: 'Data source',
    type: 'datasource',
    query: 'prometheus',
    current: {},
    hide: 0,
    refresh: 1,
    regex: '',
  },

  // queryVariable lists the values of label in the series that selector
  // selects. A multi variable offers 'All', which matches every value,
  // the empty one included: use it with =~.
  queryVariable(name, label, selector, multi=false):: {
    local query = 'label_values(%s, %s)' % [selector, name],
    name: name,
    label: label,
    type: 'query',
    datasource: datasource,
    query: query,
    definition: query,
    current: {},
    hide: 0,
    refresh: 2,
    sort: 1,
    regex: '',
    multi: multi,
    includeAll: multi,
    [if multi then 'allValue']: '.*',
  },

  // clusterVariable chooses the cluster (c.clusterLabel) among the series
  // of infoMetric that selector selects: shown with c.showMultiCluster,
  // hidden (and empty where no series has the label, matching all) without.
  clusterVariable(c, infoMetric, selector)::
    $.queryVariable('cluster', 'Cluster', '%s{%s}' % [infoMetric, selector]) {
      local query = 'label_values(%s{%s}, %s)' % [infoMetric, selector, c.clusterLabel],
      query: query,
      definition: query,
      hide: if c.showMultiCluster then 0 else 2,
    },

  // clusterSelector is the matcher of c.clusterLabel on $cluster that every
  // dashboard selector starts with.
  clusterSelector(c):: '%s=~"$cluster"' % c.clusterLabel,

  // nodeSelector selects the series of $job on the chosen $instance(s) of
  // the chosen $cluster.
  nodeSelector(c):: '%s, job="$job", instance=~"$instance"' % $.clusterSelector(c),

  // jobInstanceVariables returns the cluster, job and instance variables
  // of the exporter whose info metric is infoMetric and whose jobs selector
  // selects; instance may be multi-valued.
  jobInstanceVariables(c, infoMetric, selector, multiInstance=false):: [
    $.clusterVariable(c, infoMetric, selector),
    $.queryVariable('job', 'Job', '%s{%s, %s}' % [infoMetric, selector, $.clusterSelector(c)]),
    $.queryVariable('instance', 'Instance', '%s{%s, job="$job"}' % [infoMetric, $.clusterSelector(c)], multiInstance),
  ],

  // workloadVariables returns the variables of a workload dashboard:
  // cluster and job (from infoMetric and selector), then the drill-down
  // labels (e.g. namespace, pod, container, cgroup) over the series that
  // nameMatcher (a matcher on __name__) selects across every instance,
  // each narrowed by the ones before, and last the instances (nodes) those
  // workloads run on, All by default.
  workloadVariables(c, infoMetric, selector, nameMatcher, labels=['namespace', 'pod', 'container', 'cgroup']):: [
    $.clusterVariable(c, infoMetric, selector),
    $.queryVariable('job', 'Job', '%s{%s, %s}' % [infoMetric, selector, $.clusterSelector(c)]),
  ] + [
    local before = ['%s=~"$%s"' % [l, l] for l in labels[:i]];
    $.queryVariable(labels[i], std.asciiUpper(labels[i][0]) + labels[i][1:], '{%s}' % std.join(', ', [nameMatcher, $.clusterSelector(c), 'job="$job"'] + before), true)
    for i in std.range(0, std.length(labels) - 1)
  ] + [
    $.queryVariable('instance', 'Instance', '{%s}' % std.join(', ', [nameMatcher, $.clusterSelector(c), 'job="$job"'] + ['%s=~"$%s"' % [l, l] for l in labels]), true),
  ],

  // drillVariables returns drill-down variables (labels) over the series
  // that nameMatcher selects on the chosen cluster, job and instances,
  // each narrowed by the ones before: for a node dashboard
  // (jobInstanceVariables first) with some workload panels.
  drillVariables(c, nameMatcher, labels):: [
    local before = ['%s=~"$%s"' % [l, l] for l in labels[:i]];
    $.queryVariable(labels[i], std.asciiUpper(labels[i][0]) + labels[i][1:], '{%s}' % std.join(', ', [nameMatcher, $.nodeSelector(c)] + before), true)
    for i in std.range(0, std.length(labels) - 1)
  ],

  // workloadSelector selects the series of the chosen workloads (labels,
  // as in workloadVariables) on the chosen instances.
  workloadSelector(c, labels=['namespace', 'pod', 'container', 'cgroup']):: std.join(', ', [$.nodeSelector(c)] + ['%s=~"$%s"' % [l, l] for l in labels]),

  // target is one query of a panel; an instant target gives a table one
  // row per series.
  target(expr, legend='', instant=false):: {
    datasource: datasource,
    expr: expr,
    legendFormat: legend,
    [if instant then 'instant']: true,
    [if instant then 'format']: 'table',
    [if instant then 'range']: false,
  },

  local withRefIDs(targets) = [
    targets[i] { refId: std.char(std.codepoint('A') + i) }
    for i in std.range(0, std.length(targets) - 1)
  ],

  // timeseries is a graph of targets in unit (a Grafana unit id).
  timeseries(title, description, unit, targets, stack=false):: {
    type: 'timeseries',
    title: title,
    description: description,
    datasource: datasource,
    fieldConfig: {
      defaults: {
        unit: unit,
        min: 0,
        custom: {
          drawStyle: 'line',
          lineWidth: 1,
          fillOpacity: if stack then 30 else 10,
          showPoints: 'never',
          stacking: { mode: if stack then 'normal' else 'none', group: 'A' },
        },
      },
      overrides: [],
    },
    options: {
      legend: { displayMode: 'table', placement: 'bottom', calcs: ['mean', 'max'], showLegend: true },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
    targets: withRefIDs(targets),
  },

  // stat shows the last value of each series of targets in unit, coloured
  // by thresholds (by default red below 1, green from 1).
  stat(title, description, unit, targets, thresholds=[{ color: 'red', value: null }, { color: 'green', value: 1 }]):: {
    type: 'stat',
    title: title,
    description: description,
    datasource: datasource,
    fieldConfig: {
      defaults: {
        unit: unit,
        thresholds: { mode: 'absolute', steps: thresholds },
      },
      overrides: [],
    },
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'background',
      graphMode: 'none',
      textMode: 'value_and_name',
    },
    targets: withRefIDs(targets),
  },

  // table lists the series of instant targets, one row each, the value in
  // unit.
  table(title, description, unit, targets):: {
    type: 'table',
    title: title,
    description: description,
    datasource: datasource,
    fieldConfig: { defaults: { unit: unit }, overrides: [] },
    options: { showHeader: true, sortBy: [{ displayName: 'Value', desc: true }] },
    transformations: [{ id: 'organize', options: { excludeByName: { Time: true } } }],
    targets: withRefIDs([t { instant: true, format: 'table', range: false } for t in targets]),
  },

  // heatmap shows the distribution of a histogram over time: target is
  // one query (promql.heatmap: a native histogram, or classic buckets by
  // le), unit the unit of the observed values.
  heatmap(title, description, unit, target):: {
    type: 'heatmap',
    title: title,
    description: description,
    datasource: datasource,
    fieldConfig: { defaults: { unit: unit }, overrides: [] },
    options: {
      calculate: false,
      cellGap: 1,
      color: { mode: 'scheme', scheme: 'Oranges', fill: 'dark', scale: 'exponential', exponent: 0.5, steps: 64, reverse: false },
      yAxis: { axisPlacement: 'left', unit: unit },
      rowsFrame: { layout: 'auto' },
      filterValues: { le: 1e-9 },
      tooltip: { mode: 'single', yHistogram: true },
      legend: { show: true },
      cellValues: { unit: 'ops' },
    },
    targets: withRefIDs([target { format: 'heatmap', legendFormat: '{{le}}' }]),
  },

  // row is a titled row of panels, laid out side by side in equal widths.
  row(title, panels):: { title: title, panels: panels },

  local height = 8,

  // layout turns rows into Grafana's flat panel list: a row panel, then
  // its panels, numbered from 1 in order and placed on a 24-column grid.
  layout(rows)::
    local place(acc, row) =
      local n = std.length(row.panels);
      local w = std.floor(24 / n);
      local header = {
        type: 'row',
        title: row.title,
        id: acc.id,
        collapsed: false,
        panels: [],
        gridPos: { x: 0, y: acc.y, w: 24, h: 1 },
      };
      local body = [
        row.panels[i] {
          id: acc.id + 1 + i,
          gridPos: { x: i * w, y: acc.y + 1, w: if i == n - 1 then 24 - i * w else w, h: height },
        }
        for i in std.range(0, n - 1)
      ];
      { panels: acc.panels + [header] + body, id: acc.id + 1 + n, y: acc.y + 1 + height };
    std.foldl(place, rows, { panels: [], id: 1, y: 0 }).panels,

  // dashboard is a whole dashboard: the datasource variable, then
  // variables, then rows; c.dashboardTitlePrefix starts its title.
  dashboard(c, title, uid, description, tags, variables, rows):: {
    title: c.dashboardTitlePrefix + title,
    uid: uid,
    description: description,
    tags: ['bpfleet'] + tags,
    editable: true,
    graphTooltip: 1,
    refresh: '30s',
    schemaVersion: 39,
    time: { from: 'now-1h', to: 'now' },
    timezone: '',
    links: [],
    annotations: { list: [] },
    templating: { list: [$.datasourceVariable] + variables },
    panels: $.layout(rows),
  },
}
