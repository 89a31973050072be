// Package collector holds cri_exporter's collectors: cri, which asks the
// container runtime over its CRI socket about itself, its pods and its
// containers, and counts container exits; and oom, which counts OOM kills
// in the kernel (internal/oomkill) and attributes each to its container
// through the victim's cgroup and what cri learned from the runtime.
package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/exporter"
)

const namespace = "cri"

// Defaults of the collector flags.
const (
	DefaultEndpoint     = "unix:///run/containerd/containerd.sock"
	DefaultPollInterval = time.Second
	DefaultTimeout      = 2 * time.Second
)

// grace is how long a container that the runtime no longer lists keeps its
// pod metadata, and a container name that no container has any more keeps
// its series, so that the last increments are scraped.
const grace = 5 * time.Minute

// config is what both collectors read: the cri collector's flags.
type config struct {
	Endpoint     string        // CRI socket: unix:///run/containerd/containerd.sock
	PollInterval time.Duration // time between two listings in the background
	Timeout      time.Duration // bound of one CRI request
}

// Specs returns cri_exporter's collectors, both on by default. They share
// the cri collector's flags and the directory of containers that cri
// fills and oom reads.
func Specs() []exporter.Spec {
	cfg := &config{}
	dir := newDirectory()
	return []exporter.Spec{
		{Name: "cri", Help: "runtime health, pods, containers and container exits over CRI", Default: true,
			Flags: func(fs *exporter.FlagSet) exporter.New {
				fs.Flag("endpoint", "CRI socket of the container runtime; CRI-O's is unix:///run/crio/crio.sock.").
					Default(DefaultEndpoint).StringVar(&cfg.Endpoint)
				fs.Flag("poll-interval", "Time between two listings of the runtime's containers in the background, which catch exits between scrapes.").
					Default(DefaultPollInterval.String()).DurationVar(&cfg.PollInterval)
				fs.Flag("timeout", "Timeout of one CRI request.").
					Default(DefaultTimeout.String()).DurationVar(&cfg.Timeout)
				return newCRI(cfg, dir)
			}},
		{Name: "oom", Help: "OOM kills per container, from the kernel (needs the cri collector for pod names)", Default: true,
			Constructor: newOOM(dir)},
	}
}

// Descs returns the descriptors of every metric the collectors serve (the
// scaffold's and self-metrics aside), for documentation checks.
func Descs() []*prometheus.Desc {
	return []*prometheus.Desc{
		runtimeInfoDesc, runtimeConditionDesc, requestDurationDesc, podSandboxesDesc, containersDesc,
		containerInfoDesc, containerRestartsDesc, containerExitsDesc, containerLastExitCodeDesc, oomKillsDesc,
	}
}

// containerLabels are the labels of every per-container metric.
var containerLabels = []string{"namespace", "pod", "container"}

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}
