package workload

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/bpfleet/bpfleet/internal/cri"
)

func TestLabelValues(t *testing.T) {
	l := Labels{Cgroup: "/kubepods/pod1/c1", Namespace: "kube-system", Pod: "coredns-1", Container: "coredns"}
	got := strings.Join(l.Values(), ",")
	if want := "/kubepods/pod1/c1,kube-system,coredns-1,coredns"; got != want {
		t.Errorf("Values() = %s, want %s", got, want)
	}
	if len(LabelNames) != len(l.Values()) {
		t.Errorf("%d LabelNames, %d Values", len(LabelNames), len(l.Values()))
	}
}

func TestResolverLookup(t *testing.T) {
	root := v2RootOrSkip(t)
	r := newTestResolver(t, Options{})
	top := "/" + testCgroupName(t)
	nested := top + "/a/b"
	rootID := cgroupID(t, root)
	topID := cgroupID(t, makeCgroup(t, root, top))
	nestedID := cgroupID(t, makeCgroup(t, root, nested))
	unseen := top + "/unseen"
	unseenID := cgroupID(t, makeCgroup(t, root, unseen))
	ctx := context.Background()

	for _, tc := range []struct {
		id        uint64
		want      Labels
		wantAlive bool
	}{
		{0, Labels{}, true},
		{rootID, Labels{Cgroup: "/"}, true},
		{topID, Labels{Cgroup: top}, true},
		{nestedID, Labels{Cgroup: nested}, true},
	} {
		if got, alive := r.Lookup(ctx, tc.id); got != tc.want || alive != tc.wantAlive {
			t.Errorf("Lookup(%d) = %+v, %v; want %+v, %v", tc.id, got, alive, tc.want, tc.wantAlive)
		}
	}

	removeCgroup(t, root, nested)
	removeCgroup(t, root, unseen)
	if got, alive := r.Lookup(ctx, nestedID); got != (Labels{Cgroup: nested}) || alive {
		t.Errorf("Lookup(%d) after rmdir = %+v, %v; want the cached labels, not alive", nestedID, got, alive)
	}
	if got, alive := r.Lookup(ctx, unseenID); got != (Labels{}) || alive {
		t.Errorf("Lookup(%d) of a cgroup removed before any lookup = %+v, %v; want empty labels, not alive", unseenID, got, alive)
	}
}

func TestNewResolverNotCgroup2(t *testing.T) {
	dir := t.TempDir()
	if r, err := NewResolver(Options{CgroupRoot: dir}); err == nil {
		r.Close()
		t.Errorf("NewResolver(CgroupRoot: %s) succeeded, want an error: not on cgroup2", dir)
	}
}

// TestResolverPodLabels checks that pod labels from CRI listings reach the
// labels and are kept while the cgroup lives.
func TestResolverPodLabels(t *testing.T) {
	root := v2RootOrSkip(t)
	base := testCgroupName(t)
	pods := podMap{testID: {Namespace: "default", Pod: "web-0", Container: "nginx"}}
	r := newTestResolver(t, Options{Pods: pods, KubeletRoot: base})
	pod := "/" + base + "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + testUIDSd + ".slice"
	ctr := pod + "/cri-containerd-" + testID + ".scope"
	conmon := pod + "/crio-conmon-" + testID + ".scope"
	ctrID := cgroupID(t, makeCgroup(t, root, ctr))
	conmonID := cgroupID(t, makeCgroup(t, root, conmon))
	ctx := context.Background()

	want := Labels{Cgroup: ctr, Namespace: "default", Pod: "web-0", Container: "nginx"}
	if got, alive := r.Lookup(ctx, ctrID); got != want || !alive {
		t.Errorf("Lookup(%d) = %+v, %v; want %+v, true", ctrID, got, alive, want)
	}
	if got, alive := r.Lookup(ctx, conmonID); got != (Labels{Cgroup: conmon}) || !alive {
		t.Errorf("Lookup(%d) of conmon = %+v, %v; want path only", conmonID, got, alive)
	}
	clear(pods)
	if got, alive := r.Lookup(ctx, ctrID); got != want || !alive {
		t.Errorf("Lookup(%d) once cached = %+v, %v; want %+v, true", ctrID, got, alive, want)
	}
	removeCgroup(t, root, ctr)
	if got, alive := r.Lookup(ctx, ctrID); got != want || alive {
		t.Errorf("Lookup(%d) after rmdir = %+v, %v; want %+v, false", ctrID, got, alive, want)
	}
}

func newTestResolver(t *testing.T, opts Options) *Resolver {
	t.Helper()
	r, err := NewResolver(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Error(err)
		}
	})
	return r
}

// podMap is a PodLookup of fixed answers.
type podMap map[string]cri.PodRef

func (m podMap) Lookup(_ context.Context, id string) (cri.PodRef, bool) {
	ref, ok := m[id]
	return ref, ok
}

// A removed cgroup stays removed for as long as its labels are cached,
// however many other cgroups are removed meanwhile: more removals than the
// cache holds within the grace period (batch nodes) used to evict the
// record of its removal and revive it, so its series were never reaped.
func TestRemovedStaysRemovedUnderChurn(t *testing.T) {
	root := v2RootOrSkip(t)
	r := newTestResolver(t, Options{CacheSize: 100})
	rel := "/" + testCgroupName(t) + "/victim"
	id := cgroupID(t, makeCgroup(t, root, rel))
	r.watched.Store(true) // as while Watch runs
	r.Remember(t.Context(), id, rel)
	removeCgroup(t, root, rel)
	r.markGone(id)
	for i := range uint64(500) {
		// Removals of cgroups made and removed before they were ever looked
		// up; the victim is looked up at every scrape, so it stays cached.
		r.markGone(1<<40 + i)
		if i%50 == 0 {
			if _, alive := r.Lookup(t.Context(), id); alive {
				t.Fatalf("after %d other removals the removed cgroup is alive again", i)
			}
		}
	}
	if l, alive := r.Lookup(t.Context(), id); alive || l.Cgroup != rel {
		t.Errorf("Lookup() = %+v, %v; want its last labels and not alive", l, alive)
	}
	r.watched.Store(false) // a lost record: the kernel is asked again
	if _, alive := r.Lookup(t.Context(), id); alive {
		t.Error("removed cgroup alive once the watcher stopped")
	}
}

// A container that exits before the runtime named its pod gets its pod
// labels once the runtime does: exited containers stay listed.
func TestRemovedContainerStillGetsItsPod(t *testing.T) {
	root := v2RootOrSkip(t)
	base := testCgroupName(t)
	pods := podMap{}
	r := newTestResolver(t, Options{Pods: pods, KubeletRoot: base})
	ctr := "/" + base + "/kubepods/besteffort/pod" + testUID + "/" + testID
	id := cgroupID(t, makeCgroup(t, root, ctr))
	r.watched.Store(true)
	r.Remember(t.Context(), id, ctr) // made before the runtime lists it
	removeCgroup(t, root, ctr)
	r.markGone(id)
	if l, alive := r.Lookup(t.Context(), id); alive || l != (Labels{Cgroup: ctr}) {
		t.Errorf("Lookup() before the runtime knows it = %+v, %v; want the path only, not alive", l, alive)
	}
	pods[testID] = cri.PodRef{Namespace: "batch", Pod: "job-1", Container: "work"}
	want := Labels{Cgroup: ctr, Namespace: "batch", Pod: "job-1", Container: "work"}
	if l, alive := r.Lookup(t.Context(), id); alive || l != want {
		t.Errorf("Lookup() once the runtime lists it = %+v, %v; want %+v, not alive", l, alive, want)
	}
	clear(pods)
	if l, _ := r.Lookup(t.Context(), id); l != want {
		t.Errorf("Lookup() once the runtime forgot it = %+v; want the labels kept", l)
	}
}

// After a lost watcher record, resync finds the removals the cache missed
// and the cache answers again (it used to be bypassed until a restart).
func TestResyncAfterALostRecord(t *testing.T) {
	root := v2RootOrSkip(t)
	r := newTestResolver(t, Options{})
	rel := "/" + testCgroupName(t) + "/unseen"
	kept := "/" + testCgroupName(t) + "/kept"
	id := cgroupID(t, makeCgroup(t, root, rel))
	keptID := cgroupID(t, makeCgroup(t, root, kept))
	r.watched.Store(true)
	r.Remember(t.Context(), id, rel)
	r.Remember(t.Context(), keptID, kept)
	removeCgroup(t, root, rel) // its rmdir record is lost
	if _, alive := r.Lookup(t.Context(), id); !alive {
		t.Fatal("the test needs a cache that has not seen the removal")
	}
	r.resync()
	if _, alive := r.Lookup(t.Context(), id); alive {
		t.Error("a removal whose record was lost is still alive after resync")
	}
	if _, alive := r.Lookup(t.Context(), keptID); !alive {
		t.Error("a live cgroup is gone after resync")
	}
	if !r.watched.Load() {
		t.Error("the cache is bypassed after resync")
	}
}

// A live container whose pod the runtime has not named yet is not ready:
// its series wait for their pod labels (up to PodLabelsWait) instead of
// appearing first with empty ones.
func TestLabelsWaitForThePod(t *testing.T) {
	root := v2RootOrSkip(t)
	base := testCgroupName(t)
	pods := podMap{}
	r := newTestResolver(t, Options{Pods: pods, KubeletRoot: base})
	ctr := "/" + base + "/kubepods/besteffort/pod" + testUID + "/" + testID
	id := cgroupID(t, makeCgroup(t, root, ctr))
	if v, alive := r.Labels(t.Context(), id); v != nil || !alive {
		t.Errorf("Labels() before the runtime names the pod = %q, %v; want not ready, alive", v, alive)
	}
	pods[testID] = cri.PodRef{Namespace: "shop", Pod: "web-0", Container: "nginx"}
	if v, _ := r.Labels(t.Context(), id); strings.Join(v, ",") != ctr+",shop,web-0,nginx" {
		t.Errorf("Labels() once named = %q", v)
	}

	// A runtime that never names it: served with the path after the wait.
	other := "/" + base + "/kubepods/besteffort/pod" + testUID + "/" + strings.Repeat("b", 64)
	otherID := cgroupID(t, makeCgroup(t, root, other))
	if v, _ := r.Labels(t.Context(), otherID); v != nil {
		t.Fatalf("Labels() of an unnamed container = %q, want not ready", v)
	}
	e, _ := r.cache.Peek(otherID)
	e.since = e.since.Add(-PodLabelsWait)
	r.cache.Add(otherID, e)
	if v, _ := r.Labels(t.Context(), otherID); strings.Join(v, ",") != other+",,," {
		t.Errorf("Labels() past the wait = %q, want the path alone", v)
	}
}

// Only containers under the kubelet's cgroup root get pod labels: a cgroup
// elsewhere (a user's delegated subtree) named like a real container's gets
// its path alone, and no pod.
func TestPodLabelsOnlyUnderTheKubeletRoot(t *testing.T) {
	root := v2RootOrSkip(t)
	base := testCgroupName(t)
	pods := podMap{testID: {Namespace: "default", Pod: "web-0", Container: "nginx"}}
	kubelet := base + "/kubelet"
	r := newTestResolver(t, Options{Pods: pods, KubeletRoot: kubelet})
	real := "/" + kubelet + "/kubepods/besteffort/pod" + testUID + "/" + testID
	spoof := "/" + base + "/user.slice/user@1000.service/kubepods/besteffort/pod" + testUID + "/" + testID
	nested := "/" + kubelet + "/other/kubepods/besteffort/pod" + testUID + "/" + testID
	want := map[string]Labels{
		real:   {Cgroup: real, Namespace: "default", Pod: "web-0", Container: "nginx"},
		spoof:  {Cgroup: spoof},
		nested: {Cgroup: nested},
	}
	for path, w := range want {
		id := cgroupID(t, makeCgroup(t, root, path))
		if got, alive := r.Lookup(t.Context(), id); got != w || !alive {
			t.Errorf("Lookup(%s) = %+v, %v; want %+v, true", path, got, alive, w)
		}
		if _, ok := r.Container(path); ok != (path == real) {
			t.Errorf("Container(%s) ok = %v, want %v", path, ok, path == real)
		}
	}
}

// A pod's container cgroup outside the kubelet's cgroup root (the flag left
// at "/" on a node whose kubelet runs with --cgroup-root=/kubelet) is
// warned about once, naming the flag and the first such cgroup.
func TestPodOutsideTheKubeletRootIsWarnedOnce(t *testing.T) {
	v2RootOrSkip(t)
	var buf bytes.Buffer
	r := newTestResolver(t, Options{Logger: slog.New(slog.NewTextHandler(&buf, nil))})
	first := "/kubelet/kubepods/besteffort/pod" + testUID + "/" + testID
	second := "/kubelet/kubepods/burstable/pod" + testUID + "/" + testID
	for _, p := range []string{first, second, first} {
		if _, ok := r.Container(p); ok {
			t.Errorf("Container(%s) ok = true outside the kubelet root", p)
		}
	}
	if _, ok := r.Container("/kubepods/besteffort/pod" + testUID + "/" + testID); !ok {
		t.Error("Container under the kubelet root: ok = false")
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "--workload.kubelet-cgroup-root") ||
		!strings.Contains(lines[0], "cgroup="+first) || !strings.Contains(lines[0], "kubelet_cgroup_root=/") {
		t.Errorf("log = %q, want one warning naming the flag and %s", buf.String(), first)
	}
}
