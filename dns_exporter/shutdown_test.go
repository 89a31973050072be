package main

import (
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
	// With --collector.dns.names the collector also reads a ring buffer.
	p := exportertest.Start(t, binary, "--collector.dns.names")
	waitReady(t, p)

	exportertest.CheckSIGTERMReleasesBPF(t, p, before, programs())
}
