// Package collector holds kubelet_exporter's collector: what the node's
// kubelet reports in its Summary API (/stats/summary) about storage,
// eviction pressure and pod resources, and the exporter's own requests to
// it. Every per-pod series is labelled namespace and pod; per-container
// series add container. A field the kubelet leaves out of its reply is left
// out of the metrics: it is never served as 0.
package collector

import (
	"github.com/bpfleet/bpfleet/internal/catalog"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/kubelet_exporter/kubelet"
)

// metrics is kubelet_exporter's metric table.
var metrics catalog.Catalog

// Catalog returns every metric of kubelet_exporter's collectors.
func Catalog() *catalog.Catalog { return &metrics }

// Specs returns the collectors.
func Specs() []exporter.Spec { return []exporter.Spec{summarySpec} }

var (
	podKey       = []string{"namespace", "pod"}
	containerKey = []string{"namespace", "pod", "container"}
)

var (
	containerRootfsUsed = metrics.Add(catalog.Metric{
		Name:      "kubelet_summary_container_rootfs_used_bytes",
		Help:      "Bytes used by the container's writable layer (its rootfs), as the runtime reports it.",
		Type:      catalog.Gauge,
		Collector: "summary",
		Key:       containerKey,
	})
	containerRootfsInodes = metrics.Add(catalog.Metric{
		Name:      "kubelet_summary_container_rootfs_inodes_used",
		Help:      "Inodes used by the container's writable layer.",
		Type:      catalog.Gauge,
		Collector: "summary",
		Key:       containerKey,
	})
	containerLogsUsed = metrics.Add(catalog.Metric{
		Name:      "kubelet_summary_container_logs_used_bytes",
		Help:      "Bytes used by the container's log files on the node.",
		Type:      catalog.Gauge,
		Collector: "summary",
		Key:       containerKey,
	})
	containerCPU = metrics.Add(catalog.Metric{
		Name:      "kubelet_summary_container_cpu_usage_seconds_total",
		Help:      "CPU time used by the container, as metrics-server reads it (usageCoreNanoSeconds).",
		Type:      catalog.Counter,
		Collector: "summary",
		Key:       containerKey,
	})
	containerWorkingSet = metrics.Add(catalog.Metric{
		Name:      "kubelet_summary_container_memory_working_set_bytes",
		Help:      "The container's memory working set, as metrics-server reads it and the eviction manager compares.",
		Type:      catalog.Gauge,
		Collector: "summary",
		Key:       containerKey,
	})
	podEphemeralUsed = metrics.Add(catalog.Metric{
		Name:      "kubelet_summary_pod_ephemeral_storage_used_bytes",
		Help:      "Bytes of ephemeral storage the pod uses (its containers' rootfs and logs and its local volumes), the value the eviction manager compares with the pod's limit.",
		Type:      catalog.Gauge,
		Collector: "summary",
		Key:       podKey,
	})
	podEphemeralLimit = metrics.Add(catalog.Metric{
		Name:      "kubelet_summary_pod_ephemeral_storage_limit_bytes",
		Help:      "The pod's ephemeral-storage limit from its spec (the pod's, else the sum of its containers'); only with --kubelet.pods, and only for pods that have one.",
		Type:      catalog.Gauge,
		Collector: "summary",
		Key:       podKey,
	})
	podVolumeUsed = metrics.Add(catalog.Metric{
		Name:      "kubelet_summary_pod_volume_used_bytes",
		Help:      "Bytes used in the pod's non-PVC volume (PVC volumes are the kubelet's own kubelet_volume_stats_*), by volume and type (the volume source, from /pods with --kubelet.pods; empty without).",
		Type:      catalog.Gauge,
		Collector: "summary",
		Key:       podKey,
		Labels:    []string{"volume", "type"},
	})
	podVolumeCapacity = metrics.Add(catalog.Metric{
		Name:      "kubelet_summary_pod_volume_capacity_bytes",
		Help:      "Capacity of the filesystem behind the pod's non-PVC volume, by volume and type.",
		Type:      catalog.Gauge,
		Collector: "summary",
		Key:       podKey,
		Labels:    []string{"volume", "type"},
	})
	podProcesses = metrics.Add(catalog.Metric{
		Name:      "kubelet_summary_pod_processes",
		Help:      "Processes running in the pod.",
		Type:      catalog.Gauge,
		Collector: "summary",
		Key:       podKey,
	})
	podPSI = metrics.Add(catalog.Metric{
		Name:      "kubelet_summary_pod_psi_stalled_seconds_total",
		Help:      "Time the pod's tasks were stalled on a resource (cpu, memory, io), from the kernel's pressure stall information: kind some (at least one task) or full (all tasks); only where the kubelet reports PSI (cgroup v2, KubeletPSI on).",
		Type:      catalog.Counter,
		Collector: "summary",
		Key:       podKey,
		Labels:    []string{"resource", "kind"},
	})
	nodeFsAvailable = metrics.Add(catalog.Metric{
		Name:      "kubelet_summary_node_fs_available_bytes",
		Help:      "Bytes available to non-root users on the node's filesystem fs: nodefs (the kubelet's root dir), imagefs (the runtime's images), containerfs (the containers' writable layers).",
		Type:      catalog.Gauge,
		Collector: "summary",
		Labels:    []string{"fs"},
	})
	nodeFsCapacity = metrics.Add(catalog.Metric{
		Name:      "kubelet_summary_node_fs_capacity_bytes",
		Help:      "Size of the node's filesystem fs.",
		Type:      catalog.Gauge,
		Collector: "summary",
		Labels:    []string{"fs"},
	})
	nodeFsInodesFree = metrics.Add(catalog.Metric{
		Name:      "kubelet_summary_node_fs_inodes_free",
		Help:      "Free inodes on the node's filesystem fs.",
		Type:      catalog.Gauge,
		Collector: "summary",
		Labels:    []string{"fs"},
	})
	nodeEvictionSignal = metrics.Add(catalog.Metric{
		Name:      "kubelet_summary_node_eviction_signal_available",
		Help:      "What is left of the resource that each eviction signal watches, the value the eviction manager compares with its thresholds: memory.available, nodefs.available, imagefs.available, containerfs.available (bytes; containerfs only on a split image filesystem), nodefs.inodesFree, imagefs.inodesFree, containerfs.inodesFree (inodes), pid.available (processes).",
		Type:      catalog.Gauge,
		Collector: "summary",
		Labels:    []string{"signal"},
	})
	nodeRlimitProcesses = metrics.Add(catalog.Metric{
		Name:      "kubelet_summary_node_rlimit_processes",
		Help:      "Processes running on the node.",
		Type:      catalog.Gauge,
		Collector: "summary",
	})
	nodeRlimitMaxPID = metrics.Add(catalog.Metric{
		Name:      "kubelet_summary_node_rlimit_max_pid",
		Help:      "The node's largest process id (kernel.pid_max): the processes it can run.",
		Type:      catalog.Gauge,
		Collector: "summary",
	})
	requestDuration = metrics.Add(catalog.Metric{
		Name:      kubelet.RequestDurationName,
		Help:      kubelet.RequestDurationHelp,
		Type:      catalog.Histogram,
		Collector: "summary",
		Labels:    []string{"endpoint", "code"},
	})
)
