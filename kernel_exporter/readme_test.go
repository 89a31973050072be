package main

import (
	"testing"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
	"github.com/bpfleet/bpfleet/kernel_exporter/collector"
)

// README.md documents every flag in its "## Flags" table and every metric in
// its "## Metrics" table; these tests keep the tables and the binary in step
// (see internal/exportertest for the tables' layout and the checks).

// onlyOnEvents are the metrics that a scrape serves only once something
// happened: a series cap was reached, a ring buffer event was handled.
func onlyOnEvents() []string {
	return []string{"kernel_exporter_series_overflow_total", "kernel_exporter_event_processing_duration_seconds"}
}

// exporterOwnPrefixes are the prefixes of the Go client's metrics about the
// exporter process, which the README need not list.
func exporterOwnPrefixes() []string { return []string{"go_", "process_", "promhttp_"} }

func TestREADMEListsEveryFlag(t *testing.T) {
	exportertest.CheckREADMEFlags(t, "README.md", binary)
}

// TestREADMEMatchesMetricTable needs no root: every metric of the table is
// documented with its labels, type and collector.
func TestREADMEMatchesMetricTable(t *testing.T) {
	exportertest.CheckREADMECatalog(t, "README.md", collector.Catalog())
}

func TestREADMEListsEveryMetric(t *testing.T) {
	testenv.RequireRoot(t)
	p := exportertest.Start(t, binary, "--bpf.enable-stats")
	served := waitReady(t, p, allCollectors()...)
	exportertest.CheckREADMEMetrics(t, "README.md", collector.Catalog(), served, exportertest.MetricExceptions{
		OnlyOnEvents:         onlyOnEvents(),
		UndocumentedPrefixes: exporterOwnPrefixes(),
	})
}
