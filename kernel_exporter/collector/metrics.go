package collector

import (
	"github.com/bpfleet/bpfleet/internal/catalog"
	"github.com/bpfleet/bpfleet/internal/workload"
)

// metrics is kernel_exporter's metric table: every metric its collectors
// serve, once. README.md's Metrics table is checked against it.
var metrics catalog.Catalog

// Catalog returns every metric of kernel_exporter's collectors.
func Catalog() *catalog.Catalog { return &metrics }

var processExecs = metrics.Add(catalog.Metric{
	Name:      "kernel_process_execs_total",
	Help:      "Successful execve calls by tasks of the workload.",
	Type:      catalog.Counter,
	Collector: "process",
	Key:       workload.LabelNames,
})

var processForks = metrics.Add(catalog.Metric{
	Name:      "kernel_process_forks_total",
	Help:      "New processes (fork or clone without CLONE_THREAD) created by tasks of the workload.",
	Type:      catalog.Counter,
	Collector: "process",
	Key:       workload.LabelNames,
})

var processExits = metrics.Add(catalog.Metric{
	Name:      "kernel_process_exits_total",
	Help:      "Whole-process exits of the workload, by outcome: success (exit code 0), failure (non-zero exit code) or signal (killed by a signal).",
	Type:      catalog.Counter,
	Collector: "process",
	Key:       workload.LabelNames,
	Labels:    []string{"outcome"},
})

var oomKills = metrics.Add(catalog.Metric{
	Name:      "kernel_oom_kills_total",
	Help:      "Processes of the workload chosen as victims by the OOM killer (global or cgroup).",
	Type:      catalog.Counter,
	Collector: "oom",
	Key:       workload.LabelNames,
})

var runqueueLatency = metrics.Add(catalog.Metric{
	Name:      "kernel_runqueue_latency_seconds",
	Help:      "Time tasks of the workload waited runnable on a run queue before running (wakeup or preemption to on-CPU).",
	Type:      catalog.Histogram,
	Collector: "sched",
	Key:       workload.LabelNames,
})

var tcpConnections = metrics.Add(catalog.Metric{
	Name:      "kernel_tcp_connections_total",
	Help:      "TCP connections established by the workload: outbound (connect) or inbound (accepted by its listeners).",
	Type:      catalog.Counter,
	Collector: "tcp",
	Key:       workload.LabelNames,
	Labels:    []string{"family", "direction"},
})

var tcpConnectFailures = metrics.Add(catalog.Metric{
	Name:      "kernel_tcp_connect_failures_total",
	Help:      "Outbound TCP connects of the workload that failed (SYN_SENT to CLOSE: refused, timed out, unreachable).",
	Type:      catalog.Counter,
	Collector: "tcp",
	Key:       workload.LabelNames,
	Labels:    []string{"family"},
})

var tcpConnectLatency = metrics.Add(catalog.Metric{
	Name:      "kernel_tcp_connect_latency_seconds",
	Help:      "Time from an outbound TCP connect's SYN to ESTABLISHED.",
	Type:      catalog.Histogram,
	Collector: "tcp",
	Key:       workload.LabelNames,
	Labels:    []string{"family"},
})

var tcpRetransmits = metrics.Add(catalog.Metric{
	Name:      "kernel_tcp_retransmits_total",
	Help:      "TCP segments retransmitted by sockets of the workload (as the kernel's RetransSegs).",
	Type:      catalog.Counter,
	Collector: "tcp",
	Key:       workload.LabelNames,
	Labels:    []string{"family"},
})

var tcpResets = metrics.Add(catalog.Metric{
	Name:      "kernel_tcp_resets_total",
	Help:      "TCP resets sent or received by sockets of the workload; resets sent for segments that matched no socket have empty workload labels.",
	Type:      catalog.Counter,
	Collector: "tcp",
	Key:       workload.LabelNames,
	Labels:    []string{"family", "direction"},
})

var blockIOLatency = metrics.Add(catalog.Metric{
	Name:      "kernel_block_io_latency_seconds",
	Help:      "Block I/O request latency from issue to the device to completion, by device and operation.",
	Type:      catalog.Histogram,
	Collector: "block",
	Key:       []string{"device"},
	Labels:    []string{"operation"},
})
