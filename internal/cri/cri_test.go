package cri

import (
	"bytes"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestIndexCRI(t *testing.T) {
	sandboxes := []*runtimeapi.PodSandbox{
		{
			Id:       "sandbox-web",
			Metadata: &runtimeapi.PodSandboxMetadata{Name: "web-0", Namespace: "shop", Uid: testUID},
			Labels: map[string]string{
				LabelPodNamespace: "shop",
				LabelPodName:      "web-0",
				LabelPodUID:       testUID,
			},
		},
		{
			// Not made by the kubelet: names from the metadata alone.
			Id:       "sandbox-crictl",
			Metadata: &runtimeapi.PodSandboxMetadata{Name: "debug", Namespace: "tools"},
		},
	}
	containers := []*runtimeapi.Container{
		{
			Id:           "ctr-nginx",
			PodSandboxId: "sandbox-web",
			Metadata:     &runtimeapi.ContainerMetadata{Name: "nginx"},
			Labels: map[string]string{
				LabelPodNamespace:  "shop",
				LabelPodName:       "web-0",
				LabelContainerName: "nginx",
			},
		},
		{
			// Without the kubelet's labels: pod from the sandbox, name
			// from the metadata.
			Id:           "ctr-shell",
			PodSandboxId: "sandbox-crictl",
			Metadata:     &runtimeapi.ContainerMetadata{Name: "shell"},
		},
		{
			Id:           "ctr-orphan",
			PodSandboxId: "sandbox-gone",
			Metadata:     &runtimeapi.ContainerMetadata{Name: "lost"},
		},
		{Id: "ctr-empty"},
	}
	want := map[string]PodRef{
		"sandbox-web":    {Namespace: "shop", Pod: "web-0"},
		"sandbox-crictl": {Namespace: "tools", Pod: "debug"},
		"ctr-nginx":      {Namespace: "shop", Pod: "web-0", Container: "nginx"},
		"ctr-shell":      {Namespace: "tools", Pod: "debug", Container: "shell"},
		"ctr-orphan":     {Container: "lost"},
		"ctr-empty":      {},
	}
	if got := Index(sandboxes, containers); !maps.Equal(got, want) {
		t.Errorf("Index() =\n%v\nwant\n%v", got, want)
	}
	if got := Index(nil, nil); len(got) != 0 {
		t.Errorf("Index(nil, nil) = %v, want empty", got)
	}
}

// testUID is a pod uid as the kubelet writes it.
const testUID = "4b2f1c3a-5d6e-4f70-8192-a3b4c5d6e7f8"

func TestNewEndpoints(t *testing.T) {
	for _, tc := range []struct {
		endpoint string
		ok       bool
	}{
		{"unix:///run/containerd/containerd.sock", true},
		{"/run/crio/crio.sock", true},
		{"unix:///nonexistent.sock", true},
		{"%%%", false},
		{"", true}, // disabled
	} {
		c, err := New(tc.endpoint, DefaultTimeout, nil)
		if (err == nil) != tc.ok {
			t.Errorf("New(%q) error = %v, want ok %v", tc.endpoint, err, tc.ok)
		}
		if err == nil {
			c.Close()
		}
	}
}

// testID is a container id as runtimes write them.
var testID = strings.Repeat("a", 64)

// An endpoint that is not there answers no lookup, quickly, and is logged
// once.
func TestLookupUnavailable(t *testing.T) {
	var logs bytes.Buffer
	c, err := New("unix:///nonexistent/bpfleet-cri-test.sock", 10*time.Second, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.interval = 0
	start := time.Now()
	for _, id := range []string{testID, strings.Repeat("e", 64), testID, strings.Repeat("e", 64)} {
		if ref, ok := c.Lookup(t.Context(), id); ok {
			t.Errorf("Lookup(%s) = %+v, want nothing", id, ref)
		}
	}
	if elapsed := time.Since(start); elapsed > time.Second {
		t.Errorf("4 lookups with CRI unavailable took %v, want under 1s", elapsed)
	}
	if n := strings.Count(logs.String(), "CRI unavailable"); n != 1 {
		t.Errorf("logged %d times that CRI is unavailable, want once:\n%s", n, &logs)
	}
}

// An endpoint that accepts connections but never answers holds a lookup
// for the timeout, no longer.
func TestLookupTimeout(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "cri.sock")
	silent(t, sock)
	const timeout = 300 * time.Millisecond
	c, err := New(sock, timeout, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if ref, ok := c.Lookup(t.Context(), testID); ok {
		t.Errorf("Lookup() = %+v, want nothing", ref)
	}
	if elapsed := time.Since(start); elapsed < timeout || elapsed > timeout+time.Second {
		t.Errorf("Lookup() with a silent CRI endpoint took %v, want the timeout %v", elapsed, timeout)
	}
}

func TestDisabledClient(t *testing.T) {
	c, err := New("", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Enabled() || c.Runtime() != nil {
		t.Error("a Client without endpoint is enabled")
	}
	if _, ok := c.Lookup(t.Context(), testID); ok {
		t.Error("a disabled Client found a pod")
	}
	if err := c.Close(); err != nil {
		t.Error(err)
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
