package main

import (
	"maps"
	"slices"
	"testing"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// Other tests, of this package and of others run beside it, load and unload
// programs of the same names while these run. So the tests tell the
// exporter's BPF objects from theirs by the IDs that the exporter's process
// holds, and count a program as left behind only when no process holds it.

func TestSIGTERMUnloadsEveryBPFObject(t *testing.T) {
	testenv.RequireRoot(t)
	before, err := exportertest.LoadedPrograms()
	if err != nil {
		t.Fatal(err)
	}
	p := exportertest.Start(t, binary)
	waitReady(t, p, allCollectors()...)

	held, err := exportertest.HeldBPF(p.Pid())
	if err != nil {
		t.Fatal(err)
	}
	running, err := exportertest.LoadedPrograms()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := exportertest.ProgramNames(running, held.Programs), sorted(allPrograms()); !slices.Equal(got, want) {
		t.Errorf("exporter holds programs %v, want %v", got, want)
	}
	for id := range held.Programs {
		if name, ok := before[id]; ok {
			t.Errorf("exporter holds program %d %q, loaded before it started", id, name)
		}
	}
	linked, err := exportertest.LinkedPrograms(held.Links)
	if err != nil {
		t.Fatal(err)
	}
	if len(held.Links) != len(held.Programs) || !maps.Equal(linked, held.Programs) {
		t.Errorf("exporter holds %d links to programs %v, want one link to each of %v",
			len(held.Links), slices.Sorted(maps.Keys(linked)), slices.Sorted(maps.Keys(held.Programs)))
	}

	if code := p.Terminate(t); code != 0 {
		t.Errorf("exit code after SIGTERM = %d, want 0", code)
	}
	exportertest.Eventually(t, func() error { return exportertest.StillLoaded(held) })
	exportertest.Eventually(t, func() error { return exportertest.Unowned(before, sorted(allPrograms())) })
}

// allPrograms returns the programs of every collector and of the watcher.
func allPrograms() []string {
	var progs []string
	for _, p := range bpfPrograms() {
		progs = append(progs, p...)
	}
	return progs
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}
