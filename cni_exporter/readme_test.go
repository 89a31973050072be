package main

import (
	"testing"

	"github.com/bpfleet/bpfleet/cni_exporter/collector"
	"github.com/bpfleet/bpfleet/internal/exportertest"
)

// README.md documents every flag in its "## Flags" table and every metric
// in its "## Metrics" table (see internal/exportertest for the tables'
// layout); TestPromtoolAndREADME checks the Metrics table against a scrape.

func TestREADMEListsEveryFlag(t *testing.T) {
	exportertest.CheckREADMEFlags(t, "README.md", binary)
}

// TestREADMEMatchesMetricTable needs no root: the metric table's names,
// labels, types and collectors are the README's.
func TestREADMEMatchesMetricTable(t *testing.T) {
	exportertest.CheckREADMECatalog(t, "README.md", collector.Catalog())
}
