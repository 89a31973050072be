package collector

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	stats "k8s.io/kubelet/pkg/apis/stats/v1alpha1"

	"github.com/bpfleet/bpfleet/internal/catalog"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/kubelet_exporter/kubelet"
)

var summarySpec = exporter.Spec{
	Name:    "summary",
	Help:    "The kubelet's Summary API: per-container and per-pod storage, CPU, memory, processes and PSI; node filesystems, eviction signals and process limits; the exporter's requests to the kubelet.",
	Default: true,
	Constructor: func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
		k, err := kubelet.FromEnv(ctx, env)
		if err != nil {
			return nil, err
		}
		return &summary{k: k}, nil
	},
}

// summary serves one kubelet reply (shared by scrapes within
// --kubelet.min-interval) per scrape, and the request timings.
type summary struct{ k *kubelet.Client }

// Update asks the kubelet (or its cache) for the summary and, with
// --kubelet.pods, the pod specs; either failing fails the scrape and serves
// no summary metric: nothing stale is served.
func (c *summary) Update(ctx context.Context, ch chan<- prometheus.Metric) error {
	c.k.Requests.Collect(ch)
	s, err := c.k.Summary(ctx)
	if err != nil {
		return err
	}
	var specs kubelet.PodSpecs
	if c.k.ReadsPods() {
		if specs, err = c.k.Pods(ctx); err != nil {
			return err
		}
	}
	Emit(s, specs, ch)
	return nil
}

// descs returns the descriptors of the table's metrics, built once (at
// first use: the table is complete only once every package variable is
// initialised).
var descs = sync.OnceValue(func() map[*catalog.Metric]*prometheus.Desc {
	m := map[*catalog.Metric]*prometheus.Desc{}
	for _, metric := range metrics.Metrics() {
		m[metric] = metric.Desc()
	}
	return m
})

// Emit sends the metrics of s to ch; specs (nil without --kubelet.pods)
// adds the pods' ephemeral-storage limits and volume types. A pod or
// container whose name repeats (a pod being replaced by one of the same
// name) is served once, the one started last.
//
// PSI is served only where the kubelet measures it: on a cgroup v1 node the
// kubelet reports every PSI total as 0, so pod PSI is left out unless the
// node's own PSI has a non-zero total, and a pod's is left out while all
// its totals are 0.
func Emit(s *kubelet.Summary, specs kubelet.PodSpecs, ch chan<- prometheus.Metric) {
	emitNode(&s.Node, ch)
	psi := anyStall(cpuPSI(s.Node.CPU), memoryPSI(s.Node.Memory), ioPSI(s.Node.IO))
	for _, p := range latestPods(s.Pods) {
		emitPod(p, specs, psi, ch)
	}
}

// anyStall reports whether any of psis has a non-zero total.
func anyStall(psis ...*stats.PSIStats) bool {
	for _, p := range psis {
		if p != nil && (p.Some.Total > 0 || p.Full.Total > 0) {
			return true
		}
	}
	return false
}

// namedFs is one of the node's filesystems, by its fs label.
type namedFs struct {
	name string
	fs   *stats.FsStats
}

func emitNode(n *stats.NodeStats, ch chan<- prometheus.Metric) {
	filesystems := []namedFs{{"nodefs", n.Fs}}
	if n.Runtime != nil {
		filesystems = append(filesystems, namedFs{"imagefs", n.Runtime.ImageFs}, namedFs{"containerfs", n.Runtime.ContainerFs})
	}
	for _, f := range filesystems {
		if f.fs == nil {
			continue
		}
		fs := labelSet("fs", f.name)
		send(ch, nodeFsAvailable, f.fs.AvailableBytes, 1, fs)
		send(ch, nodeFsCapacity, f.fs.CapacityBytes, 1, fs)
		send(ch, nodeFsInodesFree, f.fs.InodesFree, 1, fs)
		if f.name == "containerfs" && !splitFilesystem(n.Runtime) {
			continue // the eviction manager has containerfs signals only on a split image filesystem
		}
		send(ch, nodeEvictionSignal, f.fs.AvailableBytes, 1, labelSet("signal", f.name+".available"))
		send(ch, nodeEvictionSignal, f.fs.InodesFree, 1, labelSet("signal", f.name+".inodesFree"))
	}
	if n.Memory != nil {
		send(ch, nodeEvictionSignal, n.Memory.AvailableBytes, 1, labelSet("signal", "memory.available"))
	}
	if r := n.Rlimit; r != nil {
		send(ch, nodeRlimitProcesses, int64p(r.NumOfRunningProcesses), 1, nil)
		send(ch, nodeRlimitMaxPID, int64p(r.MaxPID), 1, nil)
		if r.MaxPID != nil && r.NumOfRunningProcesses != nil {
			// the eviction manager's pid.available: max pid less running processes
			available := uint64(max(*r.MaxPID-*r.NumOfRunningProcesses, 0))
			send(ch, nodeEvictionSignal, &available, 1, labelSet("signal", "pid.available"))
		}
	}
}

// splitFilesystem reports whether the runtime keeps the containers'
// writable layers on another filesystem than its images: the kubelet
// reports the image filesystem twice when it does not.
func splitFilesystem(r *stats.RuntimeStats) bool {
	if r.ContainerFs == nil {
		return false
	}
	if r.ImageFs == nil {
		return true
	}
	eq := func(a, b *uint64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	i, c := r.ImageFs, r.ContainerFs
	return !eq(i.CapacityBytes, c.CapacityBytes) || !eq(i.AvailableBytes, c.AvailableBytes) || !eq(i.Inodes, c.Inodes) || !eq(i.InodesFree, c.InodesFree)
}

func int64p(v *int64) *uint64 {
	if v == nil || *v < 0 {
		return nil
	}
	u := uint64(*v)
	return &u
}

func emitPod(p *stats.PodStats, specs kubelet.PodSpecs, psi bool, ch chan<- prometheus.Metric) {
	ns, pod := p.PodRef.Namespace, p.PodRef.Name
	podLabels := labelSet("namespace", ns, "pod", pod)
	spec, hasSpec := specs[p.PodRef.UID]
	for _, c := range latestContainers(p.Containers) {
		cl := podLabels.with("container", c.Name)
		if c.Rootfs != nil {
			send(ch, containerRootfsUsed, c.Rootfs.UsedBytes, 1, cl)
			send(ch, containerRootfsInodes, c.Rootfs.InodesUsed, 1, cl)
		}
		if c.Logs != nil {
			send(ch, containerLogsUsed, c.Logs.UsedBytes, 1, cl)
		}
		if c.CPU != nil {
			send(ch, containerCPU, c.CPU.UsageCoreNanoSeconds, 1e-9, cl)
		}
		if c.Memory != nil {
			send(ch, containerWorkingSet, c.Memory.WorkingSetBytes, 1, cl)
		}
	}
	if p.EphemeralStorage != nil {
		send(ch, podEphemeralUsed, p.EphemeralStorage.UsedBytes, 1, podLabels)
	}
	if hasSpec && spec.HasLimit {
		limit := uint64(max(spec.EphemeralStorageLimit, 0))
		send(ch, podEphemeralLimit, &limit, 1, podLabels)
	}
	seen := map[string]bool{}
	for i := range p.VolumeStats {
		v := &p.VolumeStats[i]
		if v.PVCRef != nil || seen[v.Name] {
			continue
		}
		seen[v.Name] = true
		vl := podLabels.with("volume", v.Name, "type", spec.VolumeTypes[v.Name])
		send(ch, podVolumeUsed, v.UsedBytes, 1, vl)
		send(ch, podVolumeCapacity, v.CapacityBytes, 1, vl)
	}
	if p.ProcessStats != nil {
		send(ch, podProcesses, p.ProcessStats.ProcessCount, 1, podLabels)
	}
	if psi && anyStall(cpuPSI(p.CPU), memoryPSI(p.Memory), ioPSI(p.IO)) {
		emitPSI(podLabels, "cpu", cpuPSI(p.CPU), ch)
		emitPSI(podLabels, "memory", memoryPSI(p.Memory), ch)
		emitPSI(podLabels, "io", ioPSI(p.IO), ch)
	}
}

func cpuPSI(s *stats.CPUStats) *stats.PSIStats {
	if s == nil {
		return nil
	}
	return s.PSI
}

func memoryPSI(s *stats.MemoryStats) *stats.PSIStats {
	if s == nil {
		return nil
	}
	return s.PSI
}

func ioPSI(s *stats.IOStats) *stats.PSIStats {
	if s == nil {
		return nil
	}
	return s.PSI
}

// emitPSI serves the stall totals (microseconds in the API).
func emitPSI(podLabels labels, resource string, psi *stats.PSIStats, ch chan<- prometheus.Metric) {
	if psi == nil {
		return
	}
	send(ch, podPSI, &psi.Some.Total, 1e-6, podLabels.with("resource", resource, "kind", "some"))
	send(ch, podPSI, &psi.Full.Total, 1e-6, podLabels.with("resource", resource, "kind", "full"))
}

// latestPods returns the pods, one per namespace and name: the one started
// last.
func latestPods(pods []stats.PodStats) []*stats.PodStats {
	out := make([]*stats.PodStats, 0, len(pods))
	index := make(map[[2]string]int, len(pods))
	for i := range pods {
		p := &pods[i]
		key := [2]string{p.PodRef.Namespace, p.PodRef.Name}
		if j, ok := index[key]; ok {
			if p.StartTime.After(out[j].StartTime.Time) {
				out[j] = p
			}
			continue
		}
		index[key] = len(out)
		out = append(out, p)
	}
	return out
}

// latestContainers returns the containers, one per name: the one started
// last.
func latestContainers(cs []stats.ContainerStats) []*stats.ContainerStats {
	out := make([]*stats.ContainerStats, 0, len(cs))
	for i := range cs {
		c := &cs[i]
		j := -1
		for k, o := range out {
			if o.Name == c.Name {
				j = k
			}
		}
		switch {
		case j < 0:
			out = append(out, c)
		case c.StartTime.After(out[j].StartTime.Time):
			out[j] = c
		}
	}
	return out
}
