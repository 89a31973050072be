package bpfload

import (
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// capability is one Linux capability a BPF program type needs.
type capability struct {
	bit  uint
	name string
}

var (
	capBPF      = capability{unix.CAP_BPF, "CAP_BPF"}
	capPerfmon  = capability{unix.CAP_PERFMON, "CAP_PERFMON"}
	capNetAdmin = capability{unix.CAP_NET_ADMIN, "CAP_NET_ADMIN"}
	capSysAdmin = capability{unix.CAP_SYS_ADMIN, "CAP_SYS_ADMIN"}
)

// neededCapabilities returns what loading and attaching spec's programs
// needs on kernels with CAP_BPF (5.8): CAP_BPF for any program and map,
// CAP_PERFMON for tracing programs (they read kernel memory), CAP_NET_ADMIN
// for cgroup socket and packet programs.
func neededCapabilities(spec *ebpf.CollectionSpec) []capability {
	caps := []capability{capBPF}
	var perfmon, netAdmin bool
	for _, p := range spec.Programs {
		switch p.Type {
		case ebpf.Tracing, ebpf.TracePoint, ebpf.RawTracepoint, ebpf.Kprobe, ebpf.PerfEvent:
			perfmon = true
		case ebpf.CGroupSKB, ebpf.CGroupSock, ebpf.CGroupSockAddr, ebpf.SockOps:
			netAdmin = true
		}
	}
	if perfmon {
		caps = append(caps, capPerfmon)
	}
	if netAdmin {
		caps = append(caps, capNetAdmin)
	}
	return caps
}

// effectiveCapabilities returns the calling thread's effective set.
func effectiveCapabilities() (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, err
	}
	return uint64(data[1].Effective)<<32 | uint64(data[0].Effective), nil
}

// permissionError is a load or attach failure for want of a privilege: its
// message names what the process lacks, instead of cilium/ebpf's hint about
// the memlock limit, which points the wrong way on kernels that charge BPF
// memory to the cgroup (5.11 on). It is not ErrUnsupported: a pod given
// the capability later (a rollout) gets the collector back by retry.
type permissionError struct {
	msg string
	err error
}

func (e *permissionError) Error() string { return e.msg }
func (e *permissionError) Unwrap() error { return e.err }

// withCapabilities turns an EPERM from loading or attaching spec into a
// permissionError naming the capabilities spec needs that the process has
// not got; other errors are returned as they are.
func withCapabilities(spec *ebpf.CollectionSpec, what string, err error) error {
	if err == nil || !errors.Is(err, unix.EPERM) {
		return err
	}
	return &permissionError{msg: capabilityMessage(neededCapabilities(spec), what, effectiveCapabilities), err: err}
}

func capabilityMessage(need []capability, what string, effective func() (uint64, error)) string {
	names := make([]string, len(need))
	for i, c := range need {
		names[i] = c.name
	}
	needs := strings.Join(names, ", ")
	eff, err := effective()
	if err != nil {
		return fmt.Sprintf("%s: operation not permitted: these programs need %s (or CAP_SYS_ADMIN); reading this process's capabilities failed: %v", what, needs, err)
	}
	var missing []string
	for _, c := range need {
		if eff&(1<<c.bit) == 0 {
			missing = append(missing, c.name)
		}
	}
	if len(missing) > 0 && eff&(1<<capSysAdmin.bit) == 0 {
		return fmt.Sprintf("%s: operation not permitted: the exporter lacks %s (these programs need %s; CAP_SYS_ADMIN also covers them): add them to the container's securityContext.capabilities.add or the unit's AmbientCapabilities",
			what, strings.Join(missing, ", "), needs)
	}
	return fmt.Sprintf("%s: operation not permitted although the exporter has %s: a seccomp profile or a security module (AppArmor, SELinux, lockdown) forbids bpf(), or the kernel predates CAP_BPF (5.8) and needs CAP_SYS_ADMIN",
		what, needs)
}
