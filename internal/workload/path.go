package workload

import (
	"strings"
)

// Container runtimes that ParsePath recognizes from a cgroup path.
const (
	RuntimeContainerd = "containerd"
	RuntimeCRIO       = "cri-o"
	RuntimeDocker     = "docker"
)

// Kubernetes QoS classes, as they appear in pod cgroup paths.
const (
	QoSGuaranteed = "guaranteed"
	QoSBurstable  = "burstable"
	QoSBestEffort = "besteffort"
)

// containerIDLen is the length of a containerd, CRI-O or Docker container id:
// 64 lowercase hex digits.
const containerIDLen = 64

// Container is what a cgroup path tells about the container in it.
type Container struct {
	// Runtime is RuntimeContainerd, RuntimeCRIO, RuntimeDocker, or "" when
	// the path shape is shared by several runtimes (cgroupfs Kubernetes
	// pods of containerd and Docker).
	Runtime string
	// ID is the full container id: 64 lowercase hex digits.
	ID string
	// PodUID is the Kubernetes pod UID in canonical form (dashes, as the
	// API server shows it), or "" outside Kubernetes.
	PodUID string
	// QoS is the pod's QoS class (QoSGuaranteed, QoSBurstable,
	// QoSBestEffort), or "" outside Kubernetes.
	QoS string
}

// ParsePath recognizes the container cgroup of cgroupPath, in any hierarchy
// (v1 or v2) and with either kubelet cgroup driver:
//
//	/kubepods/burstable/pod<uid>/<id>                    cgroupfs (also /kubepods/pod<uid>/<id>, besteffort)
//	/kubepods/burstable/pod<uid>/crio-<id>               CRI-O, cgroupfs
//	/kubepods.slice/kubepods-burstable.slice/
//	  kubepods-burstable-pod<uid_with_underscores>.slice/
//	  cri-containerd-<id>.scope                          systemd (also crio-<id>.scope, docker-<id>.scope)
//	/docker/<id>, /system.slice/docker-<id>.scope        Docker
//	/default/<id>                                        containerd's default namespace
//
// Only the last path element can be a container: a process's sub-cgroups
// inside a container, CRI-O's conmon scopes (crio-conmon-<id>), systemd
// services, slices and mounts, and every unknown shape give false. A v1
// controller mount prefix (/sys/fs/cgroup/cpu,cpuacct) and trailing slashes
// are ignored.
func ParsePath(cgroupPath string) (Container, bool) {
	segs := segments(cgroupPath)
	if len(segs) == 0 {
		return Container{}, false
	}
	leaf, parents := segs[len(segs)-1], segs[:len(segs)-1]
	if strings.HasSuffix(leaf, ".scope") {
		return parseScope(leaf, parents)
	}
	return parseCgroupfs(leaf, parents)
}

// parseScope parses a systemd driver container scope, <prefix>-<id>.scope,
// with the pod from its parent slice when there is one.
func parseScope(leaf string, parents []string) (Container, bool) {
	// CRI-O's conmon scopes (crio-conmon-<id>.scope) match no prefix.
	scopeRuntimes := []struct{ prefix, runtime string }{
		{"cri-containerd-", RuntimeContainerd},
		{"crio-", RuntimeCRIO},
		{"docker-", RuntimeDocker},
	}
	base := strings.TrimSuffix(leaf, ".scope")
	for _, r := range scopeRuntimes {
		id, ok := strings.CutPrefix(base, r.prefix)
		if !ok || !isContainerID(id) {
			continue
		}
		c := Container{Runtime: r.runtime, ID: id}
		if len(parents) > 0 {
			c.PodUID, c.QoS = podSlice(parents[len(parents)-1])
		}
		return c, true
	}
	return Container{}, false
}

// podSlice parses a systemd driver pod slice,
// [<prefix>-]kubepods[-<qos>]-pod<uid_with_underscores>.slice.
func podSlice(name string) (uid, qos string) {
	base, ok := strings.CutSuffix(name, ".slice")
	if !ok {
		return "", ""
	}
	parts := strings.Split(base, "-")
	n := len(parts)
	if n < 2 {
		return "", ""
	}
	uid, ok = strings.CutPrefix(parts[n-1], "pod")
	if !ok {
		return "", ""
	}
	uid, ok = podUID(strings.ReplaceAll(uid, "_", "-"))
	if !ok {
		return "", ""
	}
	qos, ok = kubepodsQoS(parts[:n-1])
	if !ok {
		return "", ""
	}
	return uid, qos
}

// parseCgroupfs parses a cgroupfs driver container cgroup: <id> under a
// pod or under docker, /default/<id>, or crio-<id> (with its pod when it is
// under one).
func parseCgroupfs(leaf string, parents []string) (Container, bool) {
	runtime := ""
	id := leaf
	if rest, ok := strings.CutPrefix(leaf, "crio-"); ok {
		runtime, id = RuntimeCRIO, rest
	}
	if !isContainerID(id) {
		return Container{}, false
	}
	c := Container{Runtime: runtime, ID: id}
	var ok bool
	if c.PodUID, c.QoS, ok = podDir(parents); ok || runtime == RuntimeCRIO {
		return c, true
	}
	switch {
	case len(parents) > 0 && parents[len(parents)-1] == "docker":
		c.Runtime = RuntimeDocker
	case len(parents) == 1 && parents[0] == "default":
		c.Runtime = RuntimeContainerd
	default:
		return Container{}, false
	}
	return c, true
}

// podDir parses the cgroupfs driver pod cgroup that ends parents:
// .../kubepods[/<qos>]/pod<uid>.
func podDir(parents []string) (uid, qos string, ok bool) {
	n := len(parents)
	if n < 2 {
		return "", "", false
	}
	rest, ok := strings.CutPrefix(parents[n-1], "pod")
	if !ok {
		return "", "", false
	}
	if uid, ok = podUID(rest); !ok {
		return "", "", false
	}
	if qos, ok = kubepodsQoS(parents[:n-1]); !ok {
		return "", "", false
	}
	return uid, qos, true
}

// kubepodsQoS returns the QoS class of a pod whose ancestry ends with parts:
// [..., "kubepods"] is guaranteed, [..., "kubepods", "burstable"|"besteffort"]
// the named class.
func kubepodsQoS(parts []string) (string, bool) {
	n := len(parts)
	switch {
	case n >= 1 && parts[n-1] == "kubepods":
		return QoSGuaranteed, true
	case n >= 2 && parts[n-2] == "kubepods" && (parts[n-1] == QoSBurstable || parts[n-1] == QoSBestEffort):
		return parts[n-1], true
	}
	return "", false
}

// podUID validates a pod UID: a dashed UUID, or 32 hex digits (static pods
// get an md5 hash of their manifest).
func podUID(s string) (string, bool) {
	switch len(s) {
	case 32:
		return s, isLowerHex(s)
	case 36:
		if s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
			return "", false
		}
		return s, isLowerHex(s[:8] + s[9:13] + s[14:18] + s[19:23] + s[24:])
	}
	return "", false
}

func isContainerID(s string) bool {
	return len(s) == containerIDLen && isLowerHex(s)
}

func isLowerHex(s string) bool {
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// segments splits a cgroup path into its non-empty elements, without the
// cgroup mount prefix (/sys/fs/cgroup, and a v1 controller or v2 unified
// mount below it).
func segments(p string) []string {
	var segs []string
	for s := range strings.SplitSeq(p, "/") {
		if s != "" {
			segs = append(segs, s)
		}
	}
	if len(segs) < 3 || segs[0] != "sys" || segs[1] != "fs" || segs[2] != "cgroup" {
		return segs
	}
	segs = segs[3:]
	if len(segs) > 0 && isMountName(segs[0]) {
		segs = segs[1:]
	}
	return segs
}

// isMountName reports whether s names a cgroup mount under /sys/fs/cgroup
// rather than a cgroup: a v1 controller (or a comma-joined set of them), a
// named v1 hierarchy, or the hybrid v2 mount.
func isMountName(s string) bool {
	if strings.ContainsAny(s, ",=") {
		return true
	}
	switch s {
	case "unified", "systemd", "cpu", "cpuacct", "cpuset", "memory", "devices", "freezer",
		"blkio", "io", "pids", "net_cls", "net_prio", "perf_event", "hugetlb", "rdma", "misc":
		return true
	}
	return false
}
