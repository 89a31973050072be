package workload

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestResolverCRIUnavailable checks that a CRI endpoint that is not there
// leaves Kubernetes containers with their cgroup path only, quickly, and is
// logged once.
func TestResolverCRIUnavailable(t *testing.T) {
	root := v2RootOrSkip(t)
	var logs bytes.Buffer
	r := newTestResolver(t, Options{
		CRIEndpoint: "unix:///nonexistent/bpfleet-workload-test.sock",
		CRITimeout:  10 * time.Second,
		Logger:      slog.New(slog.NewTextHandler(&logs, nil)),
	})
	r.cri.interval = 0
	pod := "/" + testCgroupName(t) + "/kubepods/besteffort/pod" + testUID
	ctr := pod + "/" + testID
	sandbox := pod + "/" + strings.Repeat("e", 64)
	ids := map[string]uint64{
		ctr:     cgroupID(t, makeCgroup(t, root, ctr)),
		sandbox: cgroupID(t, makeCgroup(t, root, sandbox)),
	}

	start := time.Now()
	for range 2 {
		for path, id := range ids {
			if got, alive := r.Lookup(context.Background(), id); got != (Labels{Cgroup: path}) || !alive {
				t.Errorf("Lookup(%d) = %+v, %v; want %+v, true", id, got, alive, Labels{Cgroup: path})
			}
		}
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("4 lookups with CRI unavailable took %v, want under 1s", elapsed)
	}
	if n := strings.Count(logs.String(), "CRI unavailable"); n != 1 {
		t.Errorf("logged %d times that CRI is unavailable, want once:\n%s", n, &logs)
	}
}

// TestResolverCRITimeout checks that a CRI endpoint that accepts
// connections but never answers holds a lookup for CRITimeout, no longer.
func TestResolverCRITimeout(t *testing.T) {
	root := v2RootOrSkip(t)
	sock := filepath.Join(t.TempDir(), "cri.sock")
	silent(t, sock)
	const timeout = 300 * time.Millisecond
	r := newTestResolver(t, Options{CRIEndpoint: sock, CRITimeout: timeout})
	ctr := "/" + testCgroupName(t) + "/kubepods/pod" + testUID + "/" + testID
	id := cgroupID(t, makeCgroup(t, root, ctr))

	start := time.Now()
	got, alive := r.Lookup(context.Background(), id)
	elapsed := time.Since(start)
	if got != (Labels{Cgroup: ctr}) || !alive {
		t.Errorf("Lookup(%d) = %+v, %v; want %+v, true", id, got, alive, Labels{Cgroup: ctr})
	}
	if elapsed < timeout || elapsed > timeout+time.Second {
		t.Errorf("Lookup(%d) with a silent CRI endpoint took %v, want CRITimeout %v", id, elapsed, timeout)
	}
}

// silent listens on the unix socket path and accepts connections without
// ever answering, until the test ends.
func silent(t *testing.T, path string) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
	})
}

// TestResolverPodLabels checks that pod labels from CRI listings reach the
// labels and are kept while the cgroup lives.
func TestResolverPodLabels(t *testing.T) {
	root := v2RootOrSkip(t)
	r := newTestResolver(t, Options{CRIEndpoint: "/nonexistent/bpfleet-workload-test.sock"})
	pod := "/" + testCgroupName(t) + "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + testUIDSd + ".slice"
	ctr := pod + "/cri-containerd-" + testID + ".scope"
	conmon := pod + "/crio-conmon-" + testID + ".scope"
	ctrID := cgroupID(t, makeCgroup(t, root, ctr))
	conmonID := cgroupID(t, makeCgroup(t, root, conmon))
	ctx := context.Background()

	r.cri.refs = map[string]podRef{testID: {Namespace: "default", Pod: "web-0", Container: "nginx"}}
	want := Labels{Cgroup: ctr, Namespace: "default", Pod: "web-0", Container: "nginx"}
	if got, alive := r.Lookup(ctx, ctrID); got != want || !alive {
		t.Errorf("Lookup(%d) = %+v, %v; want %+v, true", ctrID, got, alive, want)
	}
	if got, alive := r.Lookup(ctx, conmonID); got != (Labels{Cgroup: conmon}) || !alive {
		t.Errorf("Lookup(%d) of conmon = %+v, %v; want path only", conmonID, got, alive)
	}
	r.cri.refs = map[string]podRef{}
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
