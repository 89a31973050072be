// PromQL builders shared by every bpfleet mixin.
{
  // The labels every per-workload metric carries, besides job and instance.
  workloadLabels:: ['cgroup', 'namespace', 'pod', 'container'],

  // by(labels) returns 'job, instance, <labels>': the grouping of a
  // per-node aggregation.
  by(labels=[]):: std.join(', ', ['job', 'instance'] + labels),

  // byWorkload is the grouping of a per-workload aggregation.
  byWorkload:: self.by(self.workloadLabels),

  // quantile returns the q-quantile of histogram metric over window,
  // grouped by the labels in by (empty: over every series): from the
  // native histogram when Prometheus ingests it
  // (--enable-feature=native-histograms), else from the classic buckets.
  // Where both exist, the native one wins.
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
}
