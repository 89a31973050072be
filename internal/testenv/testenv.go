// Package testenv runs tests against real components: the real kernel's BPF,
// cgroups, network namespaces and workloads in them. Everything it creates is
// removed by t.Cleanup. Tests that need root skip with a reason elsewhere.
package testenv

import (
	"os"
	"testing"

	"github.com/cilium/ebpf/rlimit"
)

// RequireRoot skips the test unless it runs as root, which BPF, cgroups and
// network namespaces need.
func RequireRoot(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() != 0 {
		tb.Skip("needs root: loads BPF programs and makes cgroups (run `make test` as root)")
	}
	if err := rlimit.RemoveMemlock(); err != nil {
		tb.Skipf("needs BPF: %v", err)
	}
}
