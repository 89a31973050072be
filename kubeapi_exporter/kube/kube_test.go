package kube

import (
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/types"
)

func TestRequestVerbResource(t *testing.T) {
	for _, c := range []struct{ method, path, watch, verb, resource string }{
		{"GET", "/api/v1/pods", "", "list", "pods"},
		{"GET", "/api/v1/pods", "true", "watch", "pods"},
		{"GET", "/api/v1/namespaces/a/pods", "", "list", "pods"},
		{"GET", "/api/v1/namespaces/a/pods/p", "", "get", "pods"},
		{"PUT", "/api/v1/namespaces/a/pods/p/status", "", "update", "pods/status"},
		{"GET", "/api/v1/namespaces/a", "", "get", "namespaces"},
		{"GET", "/api/v1/namespaces", "", "list", "namespaces"},
		{"GET", "/apis/apps/v1/deployments", "1", "watch", "deployments"},
		{"GET", "/api/v1/watch/namespaces/a/events", "", "watch", "events"},
		{"POST", "/apis/events.k8s.io/v1/namespaces/a/events", "", "create", "events"},
		{"DELETE", "/api/v1/namespaces/a/configmaps/c", "", "delete", "configmaps"},
		{"DELETE", "/api/v1/namespaces/a/configmaps", "", "deletecollection", "configmaps"},
		{"PATCH", "/api/v1/nodes/n", "", "patch", "nodes"},
		{"GET", "/version", "", "get", ""},
		{"GET", "/", "", "get", ""},
	} {
		verb, resource := RequestVerbResource(c.method, c.path, c.watch)
		if verb != c.verb || resource != c.resource {
			t.Errorf("%s %s watch=%q: %s %s, want %s %s", c.method, c.path, c.watch, verb, resource, c.verb, c.resource)
		}
	}
}

// FuzzRequestVerbResource: any path gives a verb and never panics.
func FuzzRequestVerbResource(f *testing.F) {
	for _, p := range []string{"/api/v1/namespaces/a/pods/p/status", "/apis/x", "//", "/api", "/apis/a/b/watch"} {
		f.Add("GET", p, "true")
	}
	f.Fuzz(func(t *testing.T, method, path, watch string) {
		verb, resource := RequestVerbResource(method, path, watch)
		if verb == "" && method != "" {
			t.Errorf("%q %q: empty verb", method, path)
		}
		if strings.Count(resource, "/") > 1 {
			t.Errorf("%q: resource %q", path, resource)
		}
	})
}

func TestShardOfSplitsEvenly(t *testing.T) {
	counts := make([]int, 3)
	for i := range 3000 {
		counts[ShardOf(types.UID(fmt.Sprintf("uid-%d", i)), 3)]++
	}
	for s, n := range counts {
		if n < 800 || n > 1200 {
			t.Errorf("shard %d got %d of 3000", s, n)
		}
	}
}

func TestSelects(t *testing.T) {
	k := &Client{cfg: Config{Shards: 1, Namespaces: []string{"a", "b"}, ExcludeNamespaces: []string{"b"}}}
	for ns, want := range map[string]bool{"a": true, "b": false, "c": false} {
		if got := k.Selects(ns, "u"); got != want {
			t.Errorf("Selects(%q) = %v", ns, got)
		}
	}
}

func TestNamespaceLabelsCap(t *testing.T) {
	n := NewNamespaceLabels("m", 2, nil)
	got := []string{n.Label("a"), n.Label("b"), n.Label("c"), n.Label("a"), n.Label("c")}
	want := []string{"a", "b", "__overflow__", "a", "__overflow__"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
