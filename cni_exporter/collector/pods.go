package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/bpfleet/bpfleet/internal/workload"
)

// podRef names a pod.
type podRef struct {
	namespace, name string
}

func (p podRef) key() string { return p.namespace + "/" + p.name }

// sandbox is what the directory knows of one pod sandbox.
type sandbox struct {
	pod    podRef
	netns  uint64 // inode of its network namespace; 0: none known (host network)
	listed time.Time
}

// podDirectory maps network namespace inodes to the pods whose sandboxes
// hold them, from the runtime's CRI socket: ListPodSandbox at each refresh,
// and one verbose PodSandboxStatus per new sandbox for its namespace. A
// sandbox the runtime no longer lists is kept for grace. Not safe for
// concurrent use.
type podDirectory struct {
	conn      *grpc.ClientConn
	runtime   runtimeapi.RuntimeServiceClient
	timeout   time.Duration
	proc      string
	sandboxes map[string]*sandbox
}

// newPodDirectory creates a client of endpoint (a unix socket, with or
// without unix://). It does not connect: the first refresh does. Close
// releases it.
func newPodDirectory(endpoint string, timeout time.Duration, proc string) (*podDirectory, error) {
	conn, err := workload.DialCRI(endpoint)
	if err != nil {
		return nil, err
	}
	return &podDirectory{conn: conn, runtime: runtimeapi.NewRuntimeServiceClient(conn), timeout: timeout,
		proc: proc, sandboxes: map[string]*sandbox{}}, nil
}

// refresh lists the sandboxes at now, learns the namespaces of new ones and
// forgets those not listed since now-grace, which it returns.
func (d *podDirectory) refresh(ctx context.Context, now time.Time) ([]sandbox, error) {
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	resp, err := d.runtime.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return d.expire(now), fmt.Errorf("listing pod sandboxes: %w", err)
	}
	for _, s := range resp.GetItems() {
		if known, ok := d.sandboxes[s.GetId()]; ok {
			known.listed = now
			continue
		}
		pod := podRef{namespace: s.GetMetadata().GetNamespace(), name: s.GetMetadata().GetName()}
		netns, err := d.sandboxNetns(ctx, s)
		if err != nil {
			return d.expire(now), err
		}
		d.sandboxes[s.GetId()] = &sandbox{pod: pod, netns: netns, listed: now}
	}
	return d.expire(now), nil
}

func (d *podDirectory) expire(now time.Time) []sandbox {
	var gone []sandbox
	for id, s := range d.sandboxes {
		if now.Sub(s.listed) > grace {
			gone = append(gone, *s)
			delete(d.sandboxes, id)
		}
	}
	return gone
}

// byNetns returns the pod of each known network namespace.
func (d *podDirectory) byNetns() map[uint64]podRef {
	out := make(map[uint64]podRef, len(d.sandboxes))
	for _, s := range d.sandboxes {
		if s.netns != 0 {
			out[s.netns] = s.pod
		}
	}
	return out
}

// sandboxInfo is what containerd and CRI-O put in a verbose
// PodSandboxStatus's info["info"]: the sandbox's OCI spec and its pid.
type sandboxInfo struct {
	Pid         int `json:"pid"`
	RuntimeSpec struct {
		Linux struct {
			Namespaces []struct {
				Type string `json:"type"`
				Path string `json:"path"`
			} `json:"namespaces"`
		} `json:"linux"`
	} `json:"runtimeSpec"`
}

// sandboxNetns returns the inode of a ready sandbox's own network namespace:
// the namespace path of its OCI spec, or else its process's namespace. 0
// for a sandbox on the host network, one not ready, or one whose
// namespace is already gone.
func (d *podDirectory) sandboxNetns(ctx context.Context, s *runtimeapi.PodSandbox) (uint64, error) {
	if s.GetState() != runtimeapi.PodSandboxState_SANDBOX_READY {
		return 0, nil
	}
	st, err := d.runtime.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: s.GetId(), Verbose: true})
	if err != nil {
		return 0, fmt.Errorf("status of pod sandbox %s: %w", s.GetId(), err)
	}
	if st.GetStatus().GetLinux().GetNamespaces().GetOptions().GetNetwork() == runtimeapi.NamespaceMode_NODE {
		return 0, nil
	}
	var info sandboxInfo
	if err := json.Unmarshal([]byte(st.GetInfo()["info"]), &info); err != nil {
		return 0, nil
	}
	for _, ns := range info.RuntimeSpec.Linux.Namespaces {
		if ns.Type == "network" && ns.Path != "" {
			if ino, ok := inode(ns.Path); ok {
				return ino, nil
			}
		}
	}
	if info.Pid > 0 {
		if ino, ok := inode(fmt.Sprintf("%s/%d/ns/net", d.proc, info.Pid)); ok {
			return ino, nil
		}
	}
	return 0, nil
}

func inode(path string) (uint64, bool) {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return 0, false
	}
	return st.Ino, true
}

// Close closes the CRI connection.
func (d *podDirectory) Close() error { return d.conn.Close() }
