local promql = import '../lib/promql.libsonnet';

{
  // The recording rules' names, for the alerts and dashboards that read
  // them.
  _records:: {
    runqueueLatencyP99: 'instance_workload:kernel_runqueue_latency_seconds:p99_rate5m',
    tcpConnectLatencyP99: 'instance_workload:kernel_tcp_connect_latency_seconds:p99_rate5m',
    tcpRetransmitsRate: 'instance_workload:kernel_tcp_retransmits:rate5m',
    blockIOLatencyP99: 'instance_device_operation:kernel_block_io_latency_seconds:p99_rate5m',
  },

  prometheusRules+:: {
    local c = $._config,
    local sel = c.kernelSelector,
    groups+: [{
      name: 'kernel-exporter.rules',
      rules: [
        {
          record: $._records.runqueueLatencyP99,
          expr: promql.quantile('0.99', 'kernel_runqueue_latency_seconds', sel, promql.byWorkload(c), '5m'),
        },
        {
          record: $._records.tcpConnectLatencyP99,
          expr: promql.quantile('0.99', 'kernel_tcp_connect_latency_seconds', sel, promql.byWorkload(c), '5m'),
        },
        {
          record: $._records.tcpRetransmitsRate,
          expr: 'sum by (%s) (rate(kernel_tcp_retransmits_total{%s}[5m]))' % [promql.byWorkload(c), sel],
        },
        {
          record: $._records.blockIOLatencyP99,
          expr: promql.quantile('0.99', 'kernel_block_io_latency_seconds', sel, promql.by(c, ['device', 'operation']), '5m'),
        },
      ],
    }],
  },
}
