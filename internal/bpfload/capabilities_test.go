package bpfload

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

func bits(caps ...capability) uint64 {
	var b uint64
	for _, c := range caps {
		b |= 1 << c.bit
	}
	return b
}

// A load that fails for want of a capability names the ones the process
// lacks, for the program types it loads, and not cilium/ebpf's memlock hint.
func TestPermissionErrorNamesMissingCapabilities(t *testing.T) {
	tracing := &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{"p": {Type: ebpf.Tracing}}}
	packets := &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{
		"e": {Type: ebpf.CGroupSKB}, "t": {Type: ebpf.TracePoint}}}
	for _, tc := range []struct {
		name      string
		spec      *ebpf.CollectionSpec
		effective uint64
		want      string
	}{
		{"none", tracing, 0, "the exporter lacks CAP_BPF, CAP_PERFMON (these programs need CAP_BPF, CAP_PERFMON;"},
		{"perfmon only", tracing, bits(capBPF), "the exporter lacks CAP_PERFMON (these programs need CAP_BPF, CAP_PERFMON;"},
		{"net admin", packets, bits(capBPF, capPerfmon), "the exporter lacks CAP_NET_ADMIN (these programs need CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN;"},
		{"all present", tracing, bits(capBPF, capPerfmon), "operation not permitted although the exporter has CAP_BPF, CAP_PERFMON: a seccomp profile"},
		{"sys admin", tracing, bits(capSysAdmin), "operation not permitted although the exporter has CAP_BPF, CAP_PERFMON: a seccomp profile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := capabilityMessage(neededCapabilities(tc.spec), "loading BPF objects", func() (uint64, error) { return tc.effective, nil })
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, "MEMLOCK") {
				t.Errorf("message %q\nwant it to contain %q", msg, tc.want)
			}
		})
	}
}

// Only EPERM becomes a permission error, which keeps the cause for
// errors.Is and is never marked unsupported (a pod may get the capability
// by a rollout, and the collector then comes back by retry).
func TestPermissionErrorIsRetriedNotUnsupported(t *testing.T) {
	spec := &ebpf.CollectionSpec{Programs: map[string]*ebpf.ProgramSpec{"p": {Type: ebpf.Tracing}}}
	other := errors.New("verifier said no")
	if got := withCapabilities(spec, "loading", other); got != other {
		t.Errorf("a non-EPERM error changed: %v", got)
	}
	cause := fmt.Errorf("map create: %w (MEMLOCK may be too low, consider rlimit.RemoveMemlock)", unix.EPERM)
	err := markUnsupported(withCapabilities(spec, "loading BPF objects", fmt.Errorf("%w: %w", cause, ebpf.ErrNotSupported)))
	if !errors.Is(err, unix.EPERM) || errors.Is(err, errors.ErrUnsupported) || strings.Contains(err.Error(), "MEMLOCK") {
		t.Errorf("permission error %q: EPERM %v, unsupported %v", err, errors.Is(err, unix.EPERM), errors.Is(err, errors.ErrUnsupported))
	}
}

func TestMemcgCharged(t *testing.T) {
	for release, want := range map[string]bool{
		"6.18.44-fc-v1147": true, "5.11.0": true, "5.10.0-28-amd64": false, "4.19.0": false, "": false, "garbage": false,
	} {
		if got := memcgCharged(release); got != want {
			t.Errorf("memcgCharged(%q) = %v, want %v", release, got, want)
		}
	}
}
