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

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/series"
)

// Defaults of the collector flags.
const (
	DefaultBinDirs     = "/opt/cni/bin,/usr/lib/cni"
	DefaultConfDir     = "/etc/cni/net.d"
	DefaultIPAMDataDir = "/var/lib/cni/networks"
)

// Specs returns cni_exporter's collectors, all on by default. plugins,
// netns and drops need the bpf component (bpfload.Component); drops the cri
// component (cri.Component) too.
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
				return newPlugins(ctx, env, splitList(*dirs))
			}
		}}
}

func netnsSpec() exporter.Spec {
	return exporter.Spec{Name: "netns", Help: "network namespaces alive, and created (from the kernel)", Default: true,
		Constructor: func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
			return newNetns(ctx, env, hostPaths())
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
			fs.Flag("rootfs", "Where the host's root file system is mounted (e.g. /host in a container with the host's / mounted there): an ipam.dataDir that a network configuration names, a host path, is read under it.").
				Default("/").StringVar(&cfg.RootFS)
			return func(context.Context, exporter.Env) (exporter.Collector, error) {
				return newIPAM(cfg), nil
			}
		}}
}

// dropsSpec's --collector.drops.max-series caps the pods with series of
// their own.
func dropsSpec() exporter.Spec {
	return exporter.Spec{Name: "drops", Help: "packets dropped by the kernel, by reason and pod (skb:kfree_skb, pods through CRI)", Default: true,
		MaxSeries: series.DefaultMaxSeries,
		Constructor: func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
			return newDrops(ctx, env, hostPaths())
		}}
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
