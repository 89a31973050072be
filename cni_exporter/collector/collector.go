// Package collector holds cni_exporter's collectors:
//
//   - plugins: CNI plugin invocations by plugin, command and result, and
//     their durations, seen in the kernel at the exec and exit of every
//     binary in the plugin directories, whichever runtime runs them;
//   - netns: network namespaces alive on the host, and those created, from
//     the kernel;
//   - ipam: addresses allocated and allocatable in each host-local range;
//   - drops: packets the kernel dropped, by drop reason and by the pod whose
//     network namespace dropped them (found through CRI).
package collector

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bpfleet/bpfleet/internal/exporter"
)

const namespace = "cni"

// Defaults of the collector flags.
const (
	DefaultBinDirs     = "/opt/cni/bin,/usr/lib/cni"
	DefaultConfDir     = "/etc/cni/net.d"
	DefaultIPAMDataDir = "/var/lib/cni/networks"
	DefaultEndpoint    = "unix:///run/containerd/containerd.sock"
	DefaultTimeout     = 2 * time.Second
	DefaultMaxPods     = 1000
)

// grace is how long a pod that the runtime no longer lists keeps its drop
// series, so that its last drops are scraped.
const grace = 5 * time.Minute

// Specs returns cni_exporter's collectors, all on by default.
func Specs() []exporter.Spec {
	return []exporter.Spec{pluginsSpec(), netnsSpec(), ipamSpec(), dropsSpec()}
}

func pluginsSpec() exporter.Spec {
	return exporter.Spec{Name: "plugins", Help: "CNI plugin invocations and durations, from exec and exit in the kernel", Default: true,
		Flags: func(fs *exporter.FlagSet) exporter.New {
			dirs := fs.Flag("bin-dir", "Comma-separated directories of the CNI plugin binaries (each runtime's bin_dir); symbolic links are followed.").
				Default(DefaultBinDirs).String()
			fs.Validate(func() error { return validateList("--collector.plugins.bin-dir", *dirs) })
			return func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
				return newPlugins(env, splitList(*dirs))
			}
		}}
}

func netnsSpec() exporter.Spec {
	return exporter.Spec{Name: "netns", Help: "network namespaces alive, and created (from the kernel)", Default: true,
		Constructor: func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
			return newNetns(env, hostPaths())
		}}
}

func ipamSpec() exporter.Spec {
	return exporter.Spec{Name: "ipam", Help: "host-local IPAM addresses allocated and capacity per range", Default: true,
		Flags: func(fs *exporter.FlagSet) exporter.New {
			var cfg ipamConfig
			fs.Flag("data-dir", "host-local's data directory, used for networks whose configuration sets no ipam.dataDir.").
				Default(DefaultIPAMDataDir).StringVar(&cfg.DataDir)
			fs.Flag("config-dir", "Directory of the CNI network configurations (.conf, .conflist, .json) that define the host-local ranges.").
				Default(DefaultConfDir).StringVar(&cfg.ConfDir)
			return func(context.Context, exporter.Env) (exporter.Collector, error) {
				return newIPAM(cfg), nil
			}
		}}
}

func dropsSpec() exporter.Spec {
	return exporter.Spec{Name: "drops", Help: "packets dropped by the kernel, by reason and pod (skb:kfree_skb, pods through CRI)", Default: true,
		Flags: func(fs *exporter.FlagSet) exporter.New {
			var cfg dropsConfig
			fs.Flag("cri-endpoint", "CRI socket of the container runtime, to map network namespaces to pods; CRI-O's is unix:///run/crio/crio.sock.").
				Default(DefaultEndpoint).StringVar(&cfg.Endpoint)
			fs.Flag("cri-timeout", "Timeout of one CRI request.").
				Default(DefaultTimeout.String()).DurationVar(&cfg.Timeout)
			fs.Flag("max-pods", "Pods with their own cni_packet_drops_total series; drops of further pods are summed under pod=\"__overflow__\". 0: no cap.").
				Default(fmt.Sprint(DefaultMaxPods)).IntVar(&cfg.MaxPods)
			fs.Validate(func() error {
				if cfg.MaxPods < 0 {
					return fmt.Errorf("--collector.drops.max-pods: %d is negative", cfg.MaxPods)
				}
				return nil
			})
			return func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
				return newDrops(env, cfg, hostPaths())
			}
		}}
}

// Descs returns the descriptors of every metric the collectors serve (the
// scaffold's and self-metrics aside), for documentation checks.
func Descs() []*prometheus.Desc {
	return []*prometheus.Desc{
		invocationsDesc, durationDesc, netnsDesc, netnsCreatedDesc,
		ipamAllocatedDesc, ipamCapacityDesc, dropsDesc,
	}
}

func newDesc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

// splitList returns the non-empty, trimmed elements of a comma-separated
// list.
func splitList(s string) []string {
	var out []string
	for _, e := range strings.Split(s, ",") {
		if e = strings.TrimSpace(e); e != "" {
			out = append(out, e)
		}
	}
	return out
}

func validateList(flag, s string) error {
	if len(splitList(s)) == 0 {
		return fmt.Errorf("%s: no directory given", flag)
	}
	return nil
}
