package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/bpfleet/bpfleet/internal/cri"
)

// sandbox is what the directory knows of one pod sandbox.
type sandbox struct {
	pod    cri.PodRef
	netns  uint64 // inode of its network namespace; 0: none known (host network)
	listed bool   // in the runtime's last listing
}

// podDirectory maps network namespace inodes to the pods whose sandboxes
// hold them, from the runtime's CRI socket: ListPodSandbox at each refresh,
// and one verbose PodSandboxStatus per new ready sandbox for its namespace.
// It is the drops collector's series.Labeler, keyed by namespace inode: a
// sandbox the runtime no longer lists keeps its labels, not alive, until
// forget. Not safe for concurrent use.
type podDirectory struct {
	client    *cri.Client // disabled: no pods
	proc      string
	sandboxes map[string]*sandbox // by sandbox id
	byNetns   map[uint64]*sandbox
}

func newPodDirectory(client *cri.Client, proc string) *podDirectory {
	return &podDirectory{client: client, proc: proc, sandboxes: map[string]*sandbox{}, byNetns: map[uint64]*sandbox{}}
}

// LabelNames are cni_packet_drops_total's key labels.
func (d *podDirectory) LabelNames() []string { return packetDrops.Key }

// Labels returns the namespace and name of the pod of network namespace
// netns; alive while the runtime lists its sandbox.
func (d *podDirectory) Labels(_ context.Context, netns uint64) ([]string, bool) {
	s, ok := d.byNetns[netns]
	if !ok {
		return []string{"", ""}, false
	}
	return []string{s.pod.Namespace, s.pod.Pod}, s.listed
}

// pod reports whether netns is a known pod's.
func (d *podDirectory) pod(netns uint64) bool {
	_, ok := d.byNetns[netns]
	return netns != 0 && ok
}

// refresh lists the sandboxes and learns the namespaces of new ready ones.
// On error, what the runtime said before stays.
func (d *podDirectory) refresh(ctx context.Context) error {
	rt := d.client.Runtime()
	if rt == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, d.client.Timeout())
	defer cancel()
	resp, err := rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return fmt.Errorf("listing pod sandboxes: %w", err)
	}
	refs := cri.Index(resp.GetItems(), nil)
	listed := make(map[string]bool, len(resp.GetItems()))
	var errs []error
	for _, s := range resp.GetItems() {
		if known, ok := d.sandboxes[s.GetId()]; ok {
			known.listed = true
			listed[s.GetId()] = true
			continue
		}
		if s.GetState() != runtimeapi.PodSandboxState_SANDBOX_READY {
			continue // its namespace is learnt once it is ready
		}
		netns, err := d.sandboxNetns(ctx, rt, s.GetId())
		if err != nil {
			errs = append(errs, err)
			continue
		}
		listed[s.GetId()] = true
		d.add(s.GetId(), &sandbox{pod: refs[s.GetId()], netns: netns, listed: true})
	}
	for id, s := range d.sandboxes {
		if !listed[id] {
			s.listed = false
		}
	}
	return errors.Join(errs...)
}

func (d *podDirectory) add(id string, s *sandbox) {
	d.sandboxes[id] = s
	if s.netns != 0 {
		d.byNetns[s.netns] = s
	}
}

// forget drops the sandboxes that the runtime no longer lists and whose
// namespace is in gone (series.Attributor.Expired) or holds no row of
// rows: nothing of theirs is left to serve.
func (d *podDirectory) forget(gone []uint64, rows map[uint64]bool) {
	expired := make(map[uint64]bool, len(gone))
	for _, netns := range gone {
		expired[netns] = true
	}
	for id, s := range d.sandboxes {
		if s.listed || (s.netns != 0 && rows[s.netns] && !expired[s.netns]) {
			continue
		}
		delete(d.sandboxes, id)
		if d.byNetns[s.netns] == s {
			delete(d.byNetns, s.netns)
		}
	}
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

// sandboxNetns returns the inode of a ready sandbox's own network
// namespace: the namespace path of its OCI spec, or else its process's
// namespace. 0 for a sandbox on the host network, or one whose namespace
// is already gone.
func (d *podDirectory) sandboxNetns(ctx context.Context, rt runtimeapi.RuntimeServiceClient, id string) (uint64, error) {
	st, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id, Verbose: true})
	if err != nil {
		return 0, fmt.Errorf("status of pod sandbox %s: %w", id, err)
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
