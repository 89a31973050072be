package collector

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestParseResources(t *testing.T) {
	gvrs, err := ParseResources(DefaultWriteResources)
	if err != nil || len(gvrs) != 7 || ResourceLabel(gvrs[0]) != "pods" || ResourceLabel(gvrs[3]) != "deployments.apps" {
		t.Fatalf("%v %v", gvrs, err)
	}
	for _, bad := range []string{"", "pods", "a/b/c/d", "v1/pods,v1/pods", "v1/", "/v1/x", "v1/po ds"} {
		if _, err := ParseResources(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func FuzzParseResources(f *testing.F) {
	f.Add(DefaultWriteResources)
	f.Add("a/b,,c/d/e")
	f.Fuzz(func(t *testing.T, s string) {
		gvrs, err := ParseResources(s)
		if err == nil && len(gvrs) == 0 {
			t.Errorf("%q: no resource and no error", s)
		}
		for _, g := range gvrs {
			if g.Version == "" || g.Resource == "" {
				t.Errorf("%q: %v", s, g)
			}
		}
	})
}

func entry(manager string, sec int64, fields uint64) (string, managedEntry) {
	return manager + "\x00Update\x00", managedEntry{time: metav1.NewTime(time.Unix(sec, 0)), fields: fields}
}

func TestWriter(t *testing.T) {
	m := func(es ...func() (string, managedEntry)) map[string]managedEntry {
		out := map[string]managedEntry{}
		for _, e := range es {
			k, v := e()
			out[k] = v
		}
		return out
	}
	e := func(manager string, sec int64, fields uint64) func() (string, managedEntry) {
		return func() (string, managedEntry) { return entry(manager, sec, fields) }
	}
	for _, c := range []struct {
		name      string
		old, now  map[string]managedEntry
		last, out string
	}{
		{"create", nil, m(e("creator", 10, 1)), "", "creator"},
		{"new entry wins over a shrunk one", m(e("creator", 10, 1)), m(e("creator", 10, 2), e("a", 10, 3)), "creator", "a"},
		{"time changed", m(e("creator", 10, 1), e("a", 10, 3)), m(e("creator", 10, 1), e("a", 11, 3)), "a", "a"},
		{"nothing changed: latest", m(e("creator", 10, 1), e("a", 11, 3)), m(e("creator", 10, 1), e("a", 11, 3)), "", "a"},
		{"nothing changed, tie: last", m(e("a", 11, 1), e("b", 11, 3)), m(e("a", 11, 1), e("b", 11, 3)), "b", "b"},
		{"no entries", nil, nil, "", UnknownManager},
	} {
		if got := Writer(c.old, c.now, c.last); got != c.out {
			t.Errorf("%s: %s, want %s", c.name, got, c.out)
		}
	}
}

func TestOccurrences(t *testing.T) {
	for _, c := range []struct {
		e    corev1.Event
		want int32
	}{
		{corev1.Event{}, 1},
		{corev1.Event{Count: 4}, 4},
		{corev1.Event{Count: 1, Series: &corev1.EventSeries{Count: 6}}, 6},
	} {
		if got := Occurrences(&c.e); got != c.want {
			t.Errorf("%+v: %d, want %d", c.e, got, c.want)
		}
	}
}

func TestStripKeepsOnlyUsedFields(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"big": "x"}, Annotations: map[string]string{"a": "b"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "i"}}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{Name: "c", Image: "i",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "R", Message: "long"}}}}}}
	s, _ := StripPod(p)
	sp := s.(*corev1.Pod)
	if sp.Labels != nil || sp.Annotations != nil || len(sp.Spec.Containers) != 0 || sp.Status.ContainerStatuses[0].Image != "" ||
		sp.Status.ContainerStatuses[0].State.Waiting.Message != "" || sp.Status.ContainerStatuses[0].State.Waiting.Reason != "R" {
		t.Errorf("not stripped: %+v", sp)
	}
}
