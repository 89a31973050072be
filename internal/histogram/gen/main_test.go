package main

import (
	"bytes"
	"math/big"
	"os"
	"testing"
)

func TestThresholdKnownValues(t *testing.T) {
	for _, tc := range []struct {
		schema, i int
		want      string
	}{
		{3, 0, "1000000000"},
		{3, 8, "2000000000"},
		{3, -8, "500000000"},
		{3, -80, "976562"}, // 1e9/1024 = 976562.5
		{3, 4, "1414213562"},
		{3, 1, "1090507732"},
		{1, 1, "1414213562"},
		{3, -240, "0"},
	} {
		want, _ := new(big.Int).SetString(tc.want, 10)
		if got := Threshold(tc.schema, tc.i); got.Cmp(want) != 0 {
			t.Errorf("Threshold(%d, %d) = %v, want %v", tc.schema, tc.i, got, want)
		}
	}
}

func TestNewTableSchemas(t *testing.T) {
	for schema := 1; schema <= 8; schema++ {
		tab, err := NewTable(schema)
		if err != nil {
			t.Errorf("schema %d: %v", schema, err)
			continue
		}
		// A doubling spans 2^schema buckets.
		if tab.Steps != 1<<schema {
			t.Errorf("schema %d: %d steps, want %d", schema, tab.Steps, 1<<schema)
		}
	}
	for _, schema := range []int{0, 9} {
		if _, err := NewTable(schema); err == nil {
			t.Errorf("NewTable(%d) succeeded", schema)
		}
	}
}

func TestNewTableSchema3(t *testing.T) {
	tab, err := NewTable(3)
	if err != nil {
		t.Fatal(err)
	}
	if tab.MinBucket != -239 || tab.MaxBucket != 273 || len(tab.Thresholds) != 513 || tab.Steps != 8 {
		t.Errorf("buckets %d..%d, %d entries, %d steps; want -239..273, 513, 8",
			tab.MinBucket, tab.MaxBucket, len(tab.Thresholds), tab.Steps)
	}
}

// TestGeneratedFilesAreFresh fails when the committed table differs from
// what go generate writes now.
func TestGeneratedFilesAreFresh(t *testing.T) {
	tab, err := NewTable(3)
	if err != nil {
		t.Fatal(err)
	}
	goSrc, err := tab.RenderGo("histogram")
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]byte{
		"../table.go": goSrc,
		"../../../bpf/include/bpfleet/histogram_table.h": tab.RenderC(),
	} {
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run go generate in internal/histogram", path)
		}
	}
}
