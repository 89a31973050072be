package workload

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/cri"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
)

// ComponentName is the name of the Resolver component; its flags are
// --workload.<option>.
const ComponentName = "workload"

// Component is the workload Resolver of an exporter whose collectors label
// series by workload. It needs the cri and bpf components before it in
// the Program, and runs the cgroup watcher (Watch) in the background.
// Flags: --workload.cgroup-root, --workload.kubelet-cgroup-root,
// --workload.granularity.
var Component = component(true, true)

// PathComponent is Component without --workload.granularity, for an
// exporter that resolves cgroups but labels its series otherwise
// (cri_exporter's are per container whatever the granularity).
var PathComponent = component(false, true)

// CgroupComponent resolves cgroup ids to paths only, with the watcher, for
// an exporter without pods (systemd_exporter names units by path): it
// needs the bpf component, not cri. Flag: --workload.cgroup-root.
var CgroupComponent = component(false, false)

func component(withGranularity, withPods bool) exporter.ComponentSpec {
	return exporter.ComponentSpec{Name: ComponentName, Flags: func(fs *exporter.FlagSet) exporter.NewComponent {
		var opts Options
		fs.Flag("cgroup-root", "cgroup v2 mount point; empty detects it.").Default("").StringVar(&opts.CgroupRoot)
		if withPods {
			fs.Flag("kubelet-cgroup-root", "The kubelet's cgroup root in the v2 hierarchy (its --cgroup-root); only containers under its kubepods get pod labels.").
				Default("/").StringVar(&opts.KubeletRoot)
		}
		grain := new(string)
		*grain = ByCgroup.String()
		if withGranularity {
			fs.Flag("granularity", "How finely per-workload series are labelled: cgroup (cgroup, namespace, pod, container), container (namespace, pod, container: a restarted container keeps its series), pod (namespace, pod) or namespace (namespace). Coarser ones sum the workloads they merge; processes outside Kubernetes containers share one series with empty labels.").
				Default(ByCgroup.String()).EnumVar(grain, granularityNames()...)
		}
		return func(ctx context.Context, env exporter.Env) (any, error) {
			if withPods {
				client, err := cri.FromEnv(ctx, env)
				if err != nil {
					return nil, err
				}
				if client.Enabled() {
					opts.Pods = client
				}
			}
			loader, err := bpfload.FromEnv(ctx, env)
			if err != nil {
				return nil, err
			}
			opts.Granularity, _ = ParseGranularity(*grain)
			opts.Logger = env.Logger
			r, err := NewResolver(opts)
			if err != nil {
				return nil, err
			}
			r.watch = watchDeps{loader: loader, self: env.Self}
			return r, nil
		}
	}}
}

// FromEnv returns the exporter's Resolver (Component), once constructed.
func FromEnv(ctx context.Context, env exporter.Env) (*Resolver, error) {
	return exporter.Use[*Resolver](ctx, env, ComponentName)
}

// watchDeps is what the cgroup watcher needs from the exporter.
type watchDeps struct {
	loader *bpfload.Loader
	self   *selfmetrics.Metrics
}

// Run runs the cgroup watcher (Watch) with the exporter's loader and
// self-metrics, for the scaffold, which retries it: lookups work without it,
// only workloads shorter than a scrape lose their labels. A Resolver not
// made by Component has nothing to run and returns at once.
func (r *Resolver) Run(ctx context.Context) error {
	if r.watch.loader == nil {
		return nil
	}
	return r.Watch(ctx, r.watch.loader, r.watch.self)
}

// Granularity is how finely per-workload series are labelled.
type Granularity int

// The granularities, finest first.
const (
	ByCgroup Granularity = iota
	ByContainer
	ByPod
	ByNamespace
)

var granularities = [...]string{"cgroup", "container", "pod", "namespace"}

func (g Granularity) String() string { return granularities[g] }

func granularityNames() []string { return granularities[:] }

// ParseGranularity parses a Granularity's name.
func ParseGranularity(s string) (Granularity, error) {
	for i, name := range granularities {
		if s == name {
			return Granularity(i), nil
		}
	}
	return 0, fmt.Errorf("granularity %q is none of %s", s, strings.Join(granularities[:], ", "))
}

// LabelNames returns the workload labels of series at the Resolver's
// granularity: LabelNames, less the cgroup label for every granularity
// coarser than cgroup, less the container label from pod, less pod from
// namespace. It implements series.Labeler.
func (r *Resolver) LabelNames() []string {
	return LabelNames[r.grain.drop():][:4-r.grain.drop()-r.grain.trim()]
}

// drop is the number of leading labels (cgroup) the granularity drops;
// trim the number of trailing ones (container, pod).
func (g Granularity) drop() int {
	if g == ByCgroup {
		return 0
	}
	return 1
}

func (g Granularity) trim() int {
	switch g {
	case ByPod:
		return 1
	case ByNamespace:
		return 2
	}
	return 0
}

// PodLabelsWait is how long the series of a live Kubernetes container are
// held back while the runtime has not named its pod: so that a new pod's
// series appear once, with their pod labels, rather than first with empty
// ones and then again under another identity. The kernel keeps counting
// meanwhile, so nothing is lost; past it, the series are served with the
// cgroup path alone (a runtime that never answers).
const PodLabelsWait = time.Minute

// Labels returns the values of LabelNames for cgroup id; alive as Lookup.
// It implements series.Labeler: nil values (not ready) for a live container
// whose pod the runtime has not named yet, for up to PodLabelsWait.
func (r *Resolver) Labels(ctx context.Context, id uint64) ([]string, bool) {
	e, alive := r.lookup(ctx, id)
	if alive && !e.complete && time.Since(e.since) < PodLabelsWait {
		return nil, true
	}
	v := e.labels.Values()
	return v[r.grain.drop() : 4-r.grain.trim()], alive
}
