// Package workload attributes kernel events to workloads: cgroup v2 id →
// cgroup path → container id → pod metadata.
//
// The id is what bpf_get_current_cgroup_id() returns in an eBPF program: the
// inode number of the task's cgroup in the v2 hierarchy (on hybrid hosts,
// the one mounted at /sys/fs/cgroup/unified). A Resolver turns it into the
// labels of every per-workload metric: the cgroup path, and for Kubernetes
// containers the pod namespace, pod name and container name that the
// container runtime reports over CRI.
package workload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bpfleet/bpfleet/internal/cri"
)

// LabelNames are the workload labels on every per-workload metric, in the
// order of Labels.Values.
var LabelNames = []string{"cgroup", "namespace", "pod", "container"}

// Labels are one workload's label values; empty when unknown.
type Labels struct {
	Cgroup, Namespace, Pod, Container string
}

// Values returns the values in LabelNames order.
func (l Labels) Values() []string { return []string{l.Cgroup, l.Namespace, l.Pod, l.Container} }

// DefaultCacheSize is the default of Options.CacheSize.
const DefaultCacheSize = 16384

// Options configures a Resolver.
type Options struct {
	// CgroupRoot is the cgroup v2 mount; empty detects it (/sys/fs/cgroup on
	// pure v2 hosts, /sys/fs/cgroup/unified on hybrid ones).
	CgroupRoot string
	// Pods names the pods of Kubernetes containers (a *cri.Client); nil
	// leaves their pod labels empty. The Resolver does not close it.
	Pods PodLookup
	// Granularity is how finely series are labelled (Labeler); the zero
	// value is ByCgroup.
	Granularity Granularity
	// KubeletRoot is the cgroup (relative to the v2 root) under which the
	// kubelet makes its kubepods hierarchy; "" means the root. Only
	// containers there get pod labels: a user with a delegated subtree who
	// names a cgroup after a real container cannot borrow its pod's labels.
	KubeletRoot string
	// CacheSize is the number of cgroups whose labels are cached; zero
	// means DefaultCacheSize.
	CacheSize int
	// Logger receives what the Resolver notices; nil discards it.
	Logger *slog.Logger
}

// PodLookup names the pod and container of a container id; *cri.Client is
// one. Lookup must return within ctx and its own timeout.
type PodLookup interface {
	Lookup(ctx context.Context, containerID string) (cri.PodRef, bool)
}

// Resolver maps cgroup v2 ids to workload labels, with caching. It is safe
// for concurrent use.
//
// Ids are resolved with open_by_handle_at(2), which needs
// CAP_DAC_READ_SEARCH; without it the Resolver walks the hierarchy instead,
// at most once per second. Labels are cached per id in an LRU cache, and
// are not fetched again while the cgroup lives at the same path.
type Resolver struct {
	root  string
	paths pathFinder
	// watched is true while Watch sees every cgroup removal: then cached
	// labels are answered without asking the kernel.
	watched  atomic.Bool
	lostSeen uint64    // records the watcher's program lost, as last seen
	pods     PodLookup // nil without CRI
	cache    *cache
	logger   *slog.Logger
	grain    Granularity
	kubelet  string    // KubeletRoot, cleaned, without a trailing slash
	watch    watchDeps // set by the component: what Run needs
	// outside is set once a pod-shaped cgroup was seen outside the kubelet's
	// cgroup root, and warned about (once: one misconfiguration, one line).
	outside atomic.Bool
	// now is the clock of the cache's sweeps (time.Now; tests change it);
	// nextSweep is when lookups may sweep next, in Unix nanoseconds.
	now       func() time.Time
	nextSweep atomic.Int64
}

// entry is a cached lookup. complete is false while the CRI endpoint has
// not yet named the pod of a Kubernetes container. gone is true once the
// cgroup was removed: for good, as cgroup ids are never reused, so a removed
// cgroup stays removed for as long as its labels are cached (its series are
// reaped after their grace period, never revived); it is forgotten once
// nothing looked it up for GoneIdle.
type entry struct {
	labels   Labels
	complete bool
	gone     bool
	since    time.Time // when an incomplete entry was first resolved
	used     time.Time // when a gone entry was marked gone or last looked up
}

// NewResolver creates a Resolver. An unreachable CRI endpoint is not an
// error: labels then come from the cgroup path alone until it answers.
// The caller closes the Resolver.
func NewResolver(opts Options) (*Resolver, error) {
	opts = withDefaults(opts)
	root := opts.CgroupRoot
	if root == "" {
		var err error
		if root, err = DetectV2Root(); err != nil {
			return nil, err
		}
	}
	paths, err := newPathFinder(root, opts.Logger)
	if err != nil {
		return nil, err
	}
	r := &Resolver{root: root, paths: paths, logger: opts.Logger, grain: opts.Granularity,
		kubelet: strings.TrimSuffix(path.Clean("/"+opts.KubeletRoot), "/"), now: time.Now}
	r.pods = opts.Pods
	if r.cache, err = newCache(opts.CacheSize); err != nil {
		r.Close()
		return nil, fmt.Errorf("creating cache: %w", err)
	}
	return r, nil
}

func withDefaults(opts Options) Options {
	if opts.CacheSize <= 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return opts
}

// newPathFinder resolves ids by file handle where the kernel and our
// capabilities allow it, and by walking the hierarchy otherwise.
func newPathFinder(root string, logger *slog.Logger) (pathFinder, error) {
	h, err := newHandleFinder(root)
	if errors.Is(err, errors.ErrUnsupported) {
		logger.Info("cgroup file handles unsupported, walking the cgroup hierarchy instead", "root", root, "err", err)
		return newWalkFinder(root, walkInterval), nil
	}
	if err != nil {
		return nil, err
	}
	return h, nil
}

// Lookup returns the labels of cgroup id. alive is false once the cgroup no
// longer exists (labels are then the last known ones). id 0 gives empty
// labels, alive. A Lookup waits for the CRI endpoint at most its timeout,
// and not past ctx's deadline.
func (r *Resolver) Lookup(ctx context.Context, id uint64) (labels Labels, alive bool) {
	e, alive := r.lookup(ctx, id)
	return e.labels, alive
}

func (r *Resolver) lookup(ctx context.Context, id uint64) (entry, bool) {
	if id == 0 {
		return entry{complete: true}, true
	}
	cached, hit := r.cache.Get(id)
	if hit && cached.gone {
		return r.completeGone(ctx, id, r.touchGone(id, cached)), false
	}
	if hit && cached.complete && r.watched.Load() {
		return cached, true
	}
	r.sweep()
	path, err := r.paths.find(id)
	if errors.Is(err, errGone) {
		if !hit {
			return entry{complete: true}, false
		}
		r.markGone(id)
		cached.gone = true
		cached.used = r.now()
		return r.completeGone(ctx, id, cached), false
	}
	if err != nil {
		r.logger.Debug("resolving cgroup", "id", id, "err", err)
		return cached, true
	}
	if hit && cached.complete && cached.labels.Cgroup == path {
		return cached, true
	}
	e := r.resolve(ctx, path)
	if hit && !cached.complete && cached.labels.Cgroup == path {
		e.since = cached.since // still waiting since then
	}
	if prev, ok := r.cache.Peek(id); ok && prev.gone {
		return prev, false // removed while we resolved it
	}
	r.cache.Add(id, e)
	return e, true
}

// CgroupRoot returns the cgroup v2 mount the Resolver resolves against.
func (r *Resolver) CgroupRoot() string { return r.root }

// Remember resolves and caches the labels of cgroup id at path (relative to
// the v2 root), as Watch learns them when the cgroup is made.
func (r *Resolver) Remember(ctx context.Context, id uint64, path string) {
	r.cache.Add(id, r.resolve(ctx, path))
}

// completeGone returns the labels of removed cgroup id, asking the runtime
// once more for the pod of a container it had not named while it ran (one
// that exited before a scrape): the runtime still lists exited containers,
// so the series of a short-lived container gets its pod labels, not empty
// ones.
func (r *Resolver) completeGone(ctx context.Context, id uint64, e entry) entry {
	if e.complete {
		return e
	}
	done := r.resolve(ctx, e.labels.Cgroup)
	if !done.complete {
		return e
	}
	done.gone, done.used = true, e.used
	r.cache.Add(id, done)
	return done
}

// markGone records that cgroup id was removed, in its cached entry; an id
// without one needs no record: the kernel says it is gone.
func (r *Resolver) markGone(id uint64) {
	if e, ok := r.cache.Peek(id); ok && !e.gone {
		e.gone, e.used = true, r.now()
		r.cache.Add(id, e)
	}
}

// touchGone records a lookup of removed cgroup id (entry e), so that its
// labels are kept while its series are still served; at most once a second
// per entry, as every scrape looks up every served series.
func (r *Resolver) touchGone(id uint64, e entry) entry {
	now := r.now()
	if now.Sub(e.used) < time.Second {
		return e
	}
	e.used = now
	if prev, ok := r.cache.Peek(id); ok && prev.gone {
		prev.used = now
		r.cache.Add(id, prev)
	}
	return e
}

// resolve builds the labels of the cgroup at path, asking the CRI endpoint
// about Kubernetes containers.
func (r *Resolver) resolve(ctx context.Context, path string) entry {
	l := Labels{Cgroup: path}
	c, ok := r.Container(path)
	if !ok || c.PodUID == "" || r.pods == nil {
		return entry{labels: l, complete: true}
	}
	ref, ok := r.pods.Lookup(ctx, c.ID)
	if !ok {
		return entry{labels: l, since: time.Now()}
	}
	l.Namespace, l.Pod, l.Container = ref.Namespace, ref.Pod, ref.Container
	return entry{labels: l, complete: true}
}

// Container is ParsePath for a cgroup path of the v2 hierarchy, with a
// Kubernetes container (PodUID set) recognized only under the kubelet's
// cgroup root (Options.KubeletRoot): elsewhere, a path shaped like a pod's
// gives ok false.
func (r *Resolver) Container(cgroupPath string) (Container, bool) {
	c, ok := ParsePath(cgroupPath)
	if !ok || c.PodUID == "" {
		return c, ok
	}
	rel, under := strings.CutPrefix(cgroupPath, r.kubelet+"/")
	if !under || !strings.HasPrefix(rel, "kubepods") {
		if r.outside.CompareAndSwap(false, true) {
			kubelet := r.kubelet
			if kubelet == "" {
				kubelet = "/"
			}
			r.logger.Warn("A pod's container cgroup is outside the kubelet cgroup root: containers there get no pod labels. Set --workload.kubelet-cgroup-root to the kubelet's --cgroup-root.",
				"cgroup", cgroupPath, "kubelet_cgroup_root", kubelet)
		}
		return Container{}, false
	}
	return c, true
}

// Close releases the cgroup root descriptor.
func (r *Resolver) Close() error {
	return r.paths.close()
}
