package collector

import "github.com/bpfleet/bpfleet/internal/catalog"

// metrics is cni_exporter's metric table: every metric its collectors
// serve, once. README.md's Metrics table is checked against it.
var metrics catalog.Catalog

// Catalog returns every metric of cni_exporter's collectors.
func Catalog() *catalog.Catalog { return &metrics }

var pluginInvocations = metrics.Add(catalog.Metric{
	Name:      "cni_plugin_invocations_total",
	Help:      "CNI plugin processes that ran to their end, by plugin binary, CNI_COMMAND (ADD, DEL, CHECK, VERSION, GC, STATUS, other) and result (success: exit status 0). Chained plugins (bridge running host-local) count separately.",
	Type:      catalog.Counter,
	Collector: "plugins",
	Labels:    []string{"plugin", "command", "result"},
})

var pluginDuration = metrics.Add(catalog.Metric{
	Name:      "cni_plugin_duration_seconds",
	Help:      "Time from the exec of a CNI plugin binary to the exit of its process, by plugin and CNI_COMMAND.",
	Type:      catalog.Histogram,
	Collector: "plugins",
	Labels:    []string{"plugin", "command"},
})

var networkNamespaces = metrics.Add(catalog.Metric{
	Name:      "cni_network_namespaces",
	Help:      "Distinct network namespaces on the host that a process is in or that are bind-mounted under /run/netns or /var/run/netns.",
	Type:      catalog.Gauge,
	Collector: "netns",
})

var networkNamespacesCreated = metrics.Add(catalog.Metric{
	Name:      "cni_network_namespaces_created_total",
	Help:      "Network namespaces created, from the kernel: successful unshare, clone and clone3 calls with CLONE_NEWNET since the exporter started.",
	Type:      catalog.Counter,
	Collector: "netns",
})

var netnsUnreadable = metrics.Add(catalog.Metric{
	Name:      "cni_exporter_netns_unreadable_processes",
	Help:      "Processes whose network namespace (/proc/<pid>/ns/net) the exporter was not allowed to read at the last scrape: it lacks CAP_SYS_PTRACE, or runs without the host's PID namespace. Their namespaces are missing from cni_network_namespaces unless another process or a bind mount holds them.",
	Type:      catalog.Gauge,
	Collector: "netns",
})

var ipamAllocated = metrics.Add(catalog.Metric{
	Name:      "cni_ipam_addresses_allocated",
	Help:      "Addresses that host-local has handed out in the range: the address files in its data directory for the network.",
	Type:      catalog.Gauge,
	Collector: "ipam",
	Labels:    []string{"network", "range"},
})

var ipamCapacity = metrics.Add(catalog.Metric{
	Name:      "cni_ipam_addresses_capacity",
	Help:      "Addresses host-local can hand out in the range, as it allocates: rangeStart to rangeEnd (by default the subnet without its network and IPv4 broadcast addresses) less the gateway.",
	Type:      catalog.Gauge,
	Collector: "ipam",
	Labels:    []string{"network", "range"},
})

var packetDrops = metrics.Add(catalog.Metric{
	Name:      "cni_packet_drops_total",
	Help:      "Packets the kernel dropped (skb:kfree_skb), by the kernel's drop reason and the pod whose network namespace dropped them; namespace and pod are empty for namespaces that are no known pod's (the host's); pods over --collector.drops.max-series are summed under namespace=\"__overflow__\", pod=\"\".",
	Type:      catalog.Counter,
	Collector: "drops",
	Key:       []string{"namespace", "pod"},
	Labels:    []string{"reason"},
})
