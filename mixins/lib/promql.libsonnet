// PromQL builders shared by every bpfleet mixin. c is always the mixin's
// _config (for its clusterLabel).
{
  // The labels every per-workload metric carries, besides job and instance.
  workloadLabels:: ['cgroup', 'namespace', 'pod', 'container'],

  // The labels of the level a human acts on for a workload alert: the pod
  // (its node comes with it), or the node for processes outside pods
  // (empty namespace and pod): cgroups and containers are folded in.
  podLabels:: ['namespace', 'pod'],

  // by(c, labels) returns '<clusterLabel>, job, instance, <labels>': the
  // grouping of a per-node aggregation.
  by(c, labels=[]):: std.join(', ', [c.clusterLabel, 'job', 'instance'] + labels),

  // byJob(c, labels) returns '<clusterLabel>, job, <labels>': the
  // grouping of a per-job (cluster-wide) aggregation.
  byJob(c, labels=[]):: std.join(', ', [c.clusterLabel, 'job'] + labels),

  // byWorkload(c) is the grouping of a per-workload aggregation (the
  // recording rules and dashboards: one series per cgroup).
  byWorkload(c):: self.by(c, self.workloadLabels),

  // byPod(c) is the grouping of the workload alerts: per pod, or per node
  // for processes outside pods.
  byPod(c):: self.by(c, self.podLabels),

  // quantile returns the q-quantile of histogram metric over window,
  // grouped by the labels in by (empty: over every series): from the
  // native histogram when Prometheus ingests it, else from the classic
  // buckets. Where both exist, the native one wins.
  quantile(q, metric, selector, by, window)::
    'histogram_quantile(%(q)s, sum %(by)s(rate(%(m)s{%(s)s}[%(w)s])))\nor\nhistogram_quantile(%(q)s, sum by (%(le)s) (rate(%(m)s_bucket{%(s)s}[%(w)s])))' % {
      q: q,
      m: metric,
      s: selector,
      by: if by == '' then '' else 'by (%s) ' % by,
      le: if by == '' then 'le' else by + ', le',
      w: window,
    },

  // count returns the per-second rate of observations of histogram metric,
  // native or classic like quantile.
  count(metric, selector, by, window)::
    'sum by (%(by)s) (histogram_count(rate(%(m)s{%(s)s}[%(w)s])))\nor\nsum by (%(by)s) (rate(%(m)s_count{%(s)s}[%(w)s]))' % {
      m: metric,
      s: selector,
      by: by,
      w: window,
    },

  // sum returns the per-second rate of the sum of observations of histogram
  // metric, native or classic like quantile.
  sum(metric, selector, by, window)::
    'sum by (%(by)s) (histogram_sum(rate(%(m)s{%(s)s}[%(w)s])))\nor\nsum by (%(by)s) (rate(%(m)s_sum{%(s)s}[%(w)s]))' % {
      m: metric,
      s: selector,
      by: by,
      w: window,
    },

  // countIncrease returns the number of observations of histogram metric
  // over window, native or classic like quantile.
  countIncrease(metric, selector, by, window)::
    'sum by (%(by)s) (histogram_count(increase(%(m)s{%(s)s}[%(w)s])))\nor\nsum by (%(by)s) (increase(%(m)s_count{%(s)s}[%(w)s]))' % {
      m: metric,
      s: selector,
      by: by,
      w: window,
    },

  // heatmap returns the distribution of histogram metric over window, for a
  // heatmap panel: the native histogram summed over the selected series
  // when Prometheus ingests it, else the classic buckets summed by le; the
  // classic ones only where there is no native one (a server that stores
  // both shows the native one).
  heatmap(metric, selector, window)::
    'sum(rate(%(m)s{%(s)s}[%(w)s]))\nor\n(sum by (le) (rate(%(m)s_bucket{%(s)s}[%(w)s])) unless on () sum(rate(%(m)s{%(s)s}[%(w)s])))' % {
      m: metric,
      s: selector,
      w: window,
    },

  // atLeast returns expr (a vector grouped by by) kept only where volume
  // (a per-second rate grouped by by) is at least floor: ratio and
  // quantile alerts skip workloads too quiet for them to mean anything.
  atLeast(expr, volume, by, floor)::
    '(\n%(e)s\n)\nand on (%(by)s)\n(\n%(v)s\n) >= %(f)g' % {
      e: std.rstripChars(expr, '\n'),
      v: std.rstripChars(volume, '\n'),
      by: by,
      f: floor,
    },
}
