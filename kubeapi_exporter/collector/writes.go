package collector

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"

	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/limits"
	"github.com/bpfleet/bpfleet/kubeapi_exporter/kube"
)

// DefaultWriteResources are the resources whose writes are counted unless
// --collector.writes.resources says otherwise.
const DefaultWriteResources = "v1/pods,v1/configmaps,v1/services,apps/v1/deployments,apps/v1/replicasets,apps/v1/statefulsets,apps/v1/daemonsets"

// UnknownManager is the manager of deletes: the API does not record who
// deleted an object.
const UnknownManager = "unknown"

var writesSpec = exporter.Spec{
	Name:    "writes",
	Help:    "Object writes (create, update, delete) by resource and field manager, from metadata-only watches.",
	Default: true,
	Flags: func(fs *exporter.FlagSet) exporter.New {
		resources := fs.Flag("resources", "Comma-separated resources whose writes are counted, as <group>/<version>/<resource> (v1/<resource> for the core group).").Default(DefaultWriteResources).String()
		maxManagers := fs.Flag("max-managers", "Distinct field managers reported; later ones are counted as the manager \""+limits.OverflowLabel+"\".").Default("100").Int()
		var gvrs []schema.GroupVersionResource
		fs.Validate(func() error {
			var err error
			if gvrs, err = ParseResources(*resources); err != nil {
				return fmt.Errorf("--collector.writes.resources: %w", err)
			}
			if *maxManagers < 1 {
				return fmt.Errorf("--collector.writes.max-managers: %d, want at least 1", *maxManagers)
			}
			return nil
		})
		return func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
			k, err := kube.FromEnv(ctx, env)
			if err != nil {
				return nil, err
			}
			return newWrites(k, gvrs, *maxManagers)
		}
	},
}

// ParseResources parses a comma-separated list of
// <group>/<version>/<resource> (or v1/<resource>).
func ParseResources(s string) ([]schema.GroupVersionResource, error) {
	var out []schema.GroupVersionResource
	seen := map[schema.GroupVersionResource]bool{}
	for f := range strings.SplitSeq(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p := strings.Split(f, "/")
		var gvr schema.GroupVersionResource
		switch len(p) {
		case 2:
			gvr = schema.GroupVersionResource{Version: p[0], Resource: p[1]}
		case 3:
			gvr = schema.GroupVersionResource{Group: p[0], Version: p[1], Resource: p[2]}
		default:
			return nil, fmt.Errorf("%q: want <group>/<version>/<resource> or v1/<resource>", f)
		}
		for _, part := range p {
			if part == "" || strings.ContainsAny(part, " \t?#%") {
				return nil, fmt.Errorf("%q: empty or invalid part", f)
			}
		}
		if seen[gvr] {
			return nil, fmt.Errorf("%q named twice", f)
		}
		seen[gvr] = true
		out = append(out, gvr)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no resource named")
	}
	return out, nil
}

// ResourceLabel names gvr as kubectl does: pods, deployments.apps.
func ResourceLabel(gvr schema.GroupVersionResource) string {
	if gvr.Group == "" {
		return gvr.Resource
	}
	return gvr.Resource + "." + gvr.Group
}

// managedEntry is what the collector remembers of a managedFields entry.
type managedEntry struct {
	time   metav1.Time
	fields uint64
}

type writtenObject struct {
	entries map[string]managedEntry // manager/operation/subresource → entry
	last    string                  // the manager of the latest write attributed
}

// writes counts writes by field manager.
type writes struct {
	k        *kube.Client
	watches  []*kube.Watch
	total    *prometheus.CounterVec
	managers *limits.Limiter

	mu      sync.Mutex
	objects map[types.UID]*writtenObject
}

func newWrites(k *kube.Client, gvrs []schema.GroupVersionResource, maxManagers int) (*writes, error) {
	c := &writes{
		k:        k,
		total:    newCounterVec(objectWrites),
		managers: limits.New(objectWrites.Name, maxManagers, k.Self()),
		objects:  make(map[types.UID]*writtenObject),
	}
	for _, gvr := range gvrs {
		api := k.Metadata.Resource(gvr).Namespace(metav1.NamespaceAll)
		resource := ResourceLabel(gvr)
		w, err := k.NewWatch(resource, &metav1.PartialObjectMetadata{}, kube.Lister{
			List:  func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) { return api.List(ctx, o) },
			Watch: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) { return api.Watch(ctx, o) },
		}, StripMetadata, cache.ResourceEventHandlerDetailedFuncs{
			AddFunc: func(obj any, initial bool) { c.added(resource, obj, initial) },
			UpdateFunc: func(old, obj any) {
				c.updated(resource, old, obj)
			},
			DeleteFunc: func(obj any) { c.deleted(resource, obj) },
		})
		if err != nil {
			return nil, err
		}
		c.watches = append(c.watches, w)
	}
	return c, nil
}

// StripMetadata keeps the object's identity and, of its managedFields,
// manager, operation, subresource, time and a hash of the fields.
func StripMetadata(obj any) (any, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}
	s := &metav1.PartialObjectMetadata{TypeMeta: m.TypeMeta, ObjectMeta: metav1.ObjectMeta{
		Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
	}}
	for _, e := range m.ManagedFields {
		se := metav1.ManagedFieldsEntry{Manager: e.Manager, Operation: e.Operation, Subresource: e.Subresource, Time: e.Time}
		if e.FieldsV1 != nil {
			h := fnv.New64a()
			h.Write(e.FieldsV1.Raw)
			se.FieldsV1 = &metav1.FieldsV1{Raw: h.Sum(nil)}
		}
		s.ManagedFields = append(s.ManagedFields, se)
	}
	return s, nil
}

func entriesOf(m *metav1.PartialObjectMetadata) map[string]managedEntry {
	out := make(map[string]managedEntry, len(m.ManagedFields))
	for _, e := range m.ManagedFields {
		var t metav1.Time
		if e.Time != nil {
			t = *e.Time
		}
		var fields uint64
		if e.FieldsV1 != nil {
			for _, b := range e.FieldsV1.Raw {
				fields = fields<<8 | uint64(b)
			}
		}
		out[e.Manager+"\x00"+string(e.Operation)+"\x00"+e.Subresource] = managedEntry{time: t, fields: fields}
	}
	return out
}

func managerOf(key string) string { return strings.SplitN(key, "\x00", 2)[0] }

// Writer returns the manager of the write that turned old into now: the
// entry that is new or changed (time or fields), the latest of them; with
// none changed (two writes within a second by one manager), the entry with
// the latest time. Ties go to a new entry, then to last (the manager of
// the object's previous write), then to the smallest key.
func Writer(old, now map[string]managedEntry, last string) string {
	best, bestRank := "", -1
	var bestTime metav1.Time
	consider := func(key string, e managedEntry, rank int) {
		switch {
		case best == "",
			e.time.After(bestTime.Time),
			e.time.Equal(&bestTime) && rank > bestRank,
			e.time.Equal(&bestTime) && rank == bestRank && key < best:
			best, bestRank, bestTime = key, rank, e.time
		}
	}
	rankOf := func(key string, base int) int {
		if managerOf(key) == last {
			return base + 1
		}
		return base
	}
	for key, e := range now {
		o, existed := old[key]
		switch {
		case !existed:
			consider(key, e, rankOf(key, 4))
		case !o.time.Equal(&e.time) || o.fields != e.fields:
			consider(key, e, rankOf(key, 2))
		}
	}
	if best == "" {
		for key, e := range now {
			consider(key, e, rankOf(key, 0))
		}
	}
	if best == "" {
		return UnknownManager
	}
	return managerOf(best)
}

func (c *writes) count(resource, operation, manager string) {
	if manager != UnknownManager && !c.managers.Admit(manager) {
		manager = limits.OverflowLabel
	}
	c.total.WithLabelValues(resource, operation, manager).Inc()
}

func (c *writes) added(resource string, obj any, initial bool) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok || !c.k.Selects(m.Namespace, m.UID) {
		return
	}
	now := entriesOf(m)
	c.mu.Lock()
	defer c.mu.Unlock()
	ow := &writtenObject{entries: now}
	c.objects[m.UID] = ow
	if initial {
		return // it existed before the exporter: its creation is not news
	}
	ow.last = Writer(nil, now, "")
	c.count(resource, "create", ow.last)
}

func (c *writes) updated(resource string, oldObj, obj any) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok || !c.k.Selects(m.Namespace, m.UID) {
		return
	}
	if old, ok := oldObj.(*metav1.PartialObjectMetadata); ok && old.ResourceVersion == m.ResourceVersion {
		return // a relist handing the same object again
	}
	now := entriesOf(m)
	c.mu.Lock()
	defer c.mu.Unlock()
	ow := c.objects[m.UID]
	if ow == nil { // recreated under the same name while the watch was away
		ow = &writtenObject{}
		c.objects[m.UID] = ow
	}
	ow.last = Writer(ow.entries, now, ow.last)
	ow.entries = now
	c.count(resource, "update", ow.last)
}

func (c *writes) deleted(resource string, obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok || !c.k.Selects(m.Namespace, m.UID) {
		return
	}
	c.mu.Lock()
	delete(c.objects, m.UID)
	c.mu.Unlock()
	c.count(resource, "delete", UnknownManager)
}

// Run watches every resource until ctx ends.
func (c *writes) Run(ctx context.Context) error {
	runners := make([]exporter.Runner, len(c.watches))
	for i, w := range c.watches {
		runners[i] = w
	}
	return exporter.RunAll(runners...).Run(ctx)
}

// Update serves the counts; it fails while a watch is unhealthy.
func (c *writes) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	c.total.Collect(ch)
	return watchErr(c.watches...)
}
