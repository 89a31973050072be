package main

import (
	"maps"
	"slices"
	"testing"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// Other tests, of this package and of others run beside it (the collector's
// own), load and unload programs of the same names while these run. So the
// test tells the exporter's BPF objects from theirs by the IDs that the
// exporter's process holds, and counts a program as left behind only when
// no process holds it.

func TestSIGTERMUnloadsEveryBPFObject(t *testing.T) {
	testenv.RequireRoot(t)
	before, err := exportertest.LoadedPrograms()
	if err != nil {
		t.Fatal(err)
	}
	// With --collector.dns.names the collector also reads a ring buffer.
	p := exportertest.Start(t, binary, "--collector.dns.names")
	waitReady(t, p)

	held, err := exportertest.HeldBPF(p.Pid())
	if err != nil {
		t.Fatal(err)
	}
	running, err := exportertest.LoadedPrograms()
	if err != nil {
		t.Fatal(err)
	}
	if got := exportertest.ProgramNames(running, held.Programs); !slices.Equal(got, programs()) {
		t.Errorf("exporter holds programs %v, want %v", got, programs())
	}
	for id := range held.Programs {
		if name, ok := before[id]; ok {
			t.Errorf("exporter holds program %d %q, loaded before it started", id, name)
		}
	}
	// The cgroup_skb programs are attached to the cgroup root by links too:
	// a program attached without one would outlive the exporter.
	linked, err := exportertest.LinkedPrograms(held.Links)
	if err != nil {
		t.Fatal(err)
	}
	if len(held.Links) != len(held.Programs) || !maps.Equal(linked, held.Programs) {
		t.Errorf("exporter holds %d links to programs %v, want one link to each of %v",
			len(held.Links), slices.Sorted(maps.Keys(linked)), slices.Sorted(maps.Keys(held.Programs)))
	}
	if len(held.Maps) == 0 {
		t.Error("exporter holds no BPF map")
	}

	if code := p.Terminate(t); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	exportertest.Eventually(t, func() error { return exportertest.StillLoaded(held) })
	exportertest.Eventually(t, func() error { return exportertest.Unowned(before, programs()) })
}
