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

  // jobInstanceVariables returns the job and instance variables of the
  // exporter whose info metric is infoMetric and whose jobs selector
  // selects; instance may be multi-valued.
  jobInstanceVariables(infoMetric, selector, multiInstance=false):: [
    $.queryVariable('job', 'Job', '%s{%s}' % [infoMetric, selector]),
    $.queryVariable('instance', 'Instance', '%s{job="$job"}' % infoMetric, multiInstance),
  ],

  // workloadVariables returns the drill-down variables namespace, pod,
  // container and cgroup over the series that nameMatcher (a matcher on
  // __name__) selects on $job and $instance.
  workloadVariables(nameMatcher):: [
    $.queryVariable('namespace', 'Namespace', '{%s, job="$job", instance=~"$instance"}' % nameMatcher, true),
    $.queryVariable('pod', 'Pod', '{%s, job="$job", instance=~"$instance", namespace=~"$namespace"}' % nameMatcher, true),
    $.queryVariable('container', 'Container', '{%s, job="$job", instance=~"$instance", namespace=~"$namespace", pod=~"$pod"}' % nameMatcher, true),
    $.queryVariable('cgroup', 'Cgroup', '{%s, job="$job", instance=~"$instance", namespace=~"$namespace", pod=~"$pod", container=~"$container"}' % nameMatcher, true),
  ],

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
  // variables, then rows.
  dashboard(title, uid, description, tags, variables, rows):: {
    title: title,
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
