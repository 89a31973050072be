package main

import (
	"slices"
	"testing"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

func TestSIGTERMUnloadsEveryBPFObject(t *testing.T) {
	testenv.RequireRoot(t)
	before, err := exportertest.LoadedPrograms()
	if err != nil {
		t.Fatal(err)
	}
	p := exportertest.Start(t, binary)
	waitReady(t, p, allCollectors()...)

	exportertest.CheckSIGTERMReleasesBPF(t, p, before, sorted(allPrograms()))
}

// allPrograms returns the programs of every collector and of the watcher.
func allPrograms() []string {
	var progs []string
	for _, p := range bpfPrograms(hostBTF()) {
		progs = append(progs, p...)
	}
	return progs
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}
