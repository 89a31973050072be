package main

import (
	"testing"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// TestSIGTERMUnloadsEveryBPFObject: the exporter holds the oom collector's
// and the cgroup watcher's programs, each by a link of its own, and SIGTERM
// releases every program, link and map.
func TestSIGTERMUnloadsEveryBPFObject(t *testing.T) {
	testenv.RequireRoot(t)
	ctd := testenv.StartContainerd(t)
	before, err := exportertest.LoadedPrograms()
	if err != nil {
		t.Fatal(err)
	}
	p := exportertest.Start(t, binary, "--cri.endpoint="+ctd.Endpoint, "--workload.kubelet-cgroup-root="+ctd.CgroupParent)
	waitReady(t, p)

	exportertest.CheckSIGTERMReleasesBPF(t, p, before, programs())
}
