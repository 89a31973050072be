package collector

import (
	"github.com/bpfleet/bpfleet/internal/catalog"
)

// metrics is cri_exporter's metric table: every metric its collectors
// serve, once (the scaffold's and self-metrics aside).
var metrics catalog.Catalog

// Catalog returns every metric of cri_exporter's collectors.
func Catalog() *catalog.Catalog { return &metrics }

// containerLabels are the key labels of every per-container metric: a
// container as the kubelet names it across its restarts.
var containerLabels = []string{"namespace", "pod", "container"}

// The cri collector's metrics.
var (
	runtimeInfo = metrics.Add(catalog.Metric{
		Name:      "cri_runtime_info",
		Help:      "The container runtime behind the CRI socket; always 1.",
		Type:      catalog.Gauge,
		Collector: "cri",
		Labels:    []string{"runtime_name", "runtime_version", "runtime_api_version"},
	})
	runtimeCondition = metrics.Add(catalog.Metric{
		Name:      "cri_runtime_condition",
		Help:      "1 when the runtime reports the condition (RuntimeReady, NetworkReady, ...) true, 0 when false.",
		Type:      catalog.Gauge,
		Collector: "cri",
		Labels:    []string{"condition"},
	})
	requestDuration = metrics.Add(catalog.Metric{
		Name:      "cri_request_duration_seconds",
		Help:      "Time the runtime took to answer the exporter's own CRI requests, by CRI method; requests that did not reach it (connection refused) are not observed.",
		Type:      catalog.Histogram,
		Collector: "cri",
		Labels:    []string{"method"},
	})
	podSandboxes = metrics.Add(catalog.Metric{
		Name:      "cri_pod_sandboxes",
		Help:      "Pod sandboxes the runtime has, by state: ready or notready.",
		Type:      catalog.Gauge,
		Collector: "cri",
		Labels:    []string{"state"},
	})
	containers = metrics.Add(catalog.Metric{
		Name:      "cri_containers",
		Help:      "Containers the runtime has, by state: created, running, exited or unknown.",
		Type:      catalog.Gauge,
		Collector: "cri",
		Labels:    []string{"state"},
	})
	containerInfo = metrics.Add(catalog.Metric{
		Name:      "cri_container_info",
		Help:      "A container the runtime has, with its id and image; always 1.",
		Type:      catalog.Gauge,
		Collector: "cri",
		Key:       containerLabels,
		Labels:    []string{"container_id", "image"},
	})
	containerRestarts = metrics.Add(catalog.Metric{
		Name:      "cri_container_restarts",
		Help:      "The CRI attempt number of the container's latest instance: how often the kubelet restarted it.",
		Type:      catalog.Gauge,
		Collector: "cri",
		Key:       containerLabels,
	})
	containerExits = metrics.Add(catalog.Metric{
		Name:      "cri_container_exits_total",
		Help:      "Container exits seen since the exporter started, by reason: completed (code 0), error (1-128), signal (above 128), oom_killed.",
		Type:      catalog.Counter,
		Collector: "cri",
		Key:       containerLabels,
		Labels:    []string{"reason"},
	})
	containerLastExitCode = metrics.Add(catalog.Metric{
		Name:      "cri_container_last_exit_code",
		Help:      "Exit code of the container's latest exited instance.",
		Type:      catalog.Gauge,
		Collector: "cri",
		Key:       containerLabels,
	})
)

// The oom collector's metric.
var oomKills = metrics.Add(catalog.Metric{
	Name:      "cri_container_oom_kills_total",
	Help:      "Processes of the container chosen as victims by the OOM killer, seen in the kernel: also the children of a container that keeps running. Empty labels for a Kubernetes container the runtime never named.",
	Type:      catalog.Counter,
	Collector: "oom",
	Key:       containerLabels,
})
