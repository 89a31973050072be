package workload

import (
	"maps"
	"testing"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestIndexCRI(t *testing.T) {
	sandboxes := []*runtimeapi.PodSandbox{
		{
			Id:       "sandbox-web",
			Metadata: &runtimeapi.PodSandboxMetadata{Name: "web-0", Namespace: "shop", Uid: testUID},
			Labels: map[string]string{
				criPodNamespace:         "shop",
				criPodName:              "web-0",
				"io.kubernetes.pod.uid": testUID,
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
				criPodNamespace:  "shop",
				criPodName:       "web-0",
				criContainerName: "nginx",
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
	want := map[string]podRef{
		"sandbox-web":    {Namespace: "shop", Pod: "web-0"},
		"sandbox-crictl": {Namespace: "tools", Pod: "debug"},
		"ctr-nginx":      {Namespace: "shop", Pod: "web-0", Container: "nginx"},
		"ctr-shell":      {Namespace: "tools", Pod: "debug", Container: "shell"},
		"ctr-orphan":     {Container: "lost"},
		"ctr-empty":      {},
	}
	if got := indexCRI(sandboxes, containers); !maps.Equal(got, want) {
		t.Errorf("indexCRI() =\n%v\nwant\n%v", got, want)
	}
	if got := indexCRI(nil, nil); len(got) != 0 {
		t.Errorf("indexCRI(nil, nil) = %v, want empty", got)
	}
}

func TestNewCRIClientEndpoints(t *testing.T) {
	for _, tc := range []struct {
		endpoint string
		ok       bool
	}{
		{"unix:///run/containerd/containerd.sock", true},
		{"/run/crio/crio.sock", true},
		{"unix:///nonexistent.sock", true},
		{"%%%", false},
	} {
		c, err := newCRIClient(tc.endpoint, DefaultCRITimeout, nil)
		if (err == nil) != tc.ok {
			t.Errorf("newCRIClient(%q) error = %v, want ok %v", tc.endpoint, err, tc.ok)
		}
		if err == nil {
			c.close()
		}
	}
}
