package main

import (
	"testing"

	"github.com/miekg/dns"

	"github.com/bpfleet/bpfleet/dns_exporter/collector"
	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// README.md documents every flag in its "## Flags" table and every metric in
// its "## Metrics" table; these tests keep the tables and the binary in step
// (see internal/exportertest for the tables' layout and the checks).

// onlyOnEvents are the metrics that a scrape serves only once something
// happened: a series cap was reached, a ring buffer event was handled, a
// collector found its host unsupported.
func onlyOnEvents() []string {
	return []string{"dns_exporter_series_overflow_total", "dns_exporter_event_processing_duration_seconds",
		"dns_exporter_collector_unsupported"}
}

// exporterOwnPrefixes are the prefixes of the Go client's metrics about the
// exporter process, which the README need not list.
func exporterOwnPrefixes() []string { return []string{"go_", "process_", "promhttp_"} }

// TestREADMEMatchesMetricTable needs no root: the metric table and the
// README's Metrics table agree on every metric, its labels, type and
// collector.
func TestREADMEMatchesMetricTable(t *testing.T) {
	exportertest.CheckREADMECatalog(t, "README.md", collector.Catalog())
}

func TestREADMEListsEveryFlag(t *testing.T) {
	exportertest.CheckREADMEFlags(t, "README.md", binary)
}

func TestREADMEListsEveryMetric(t *testing.T) {
	testenv.RequireRoot(t)
	p := exportertest.Start(t, binary, "--bpf.enable-stats", "--collector.dns.names")
	waitReady(t, p)
	// An NXDOMAIN response, so that the scrape serves the per-workload
	// families with their labels.
	name := uniqueName()
	startResponder(t, dns.RcodeNameError).ask(t, name, dns.TypeSRV, dns.RcodeNameError)
	served := waitForSamples(t, p,
		ownSample(t, "dns_responses_total", 1, "qtype", "SRV", "rcode", "NXDOMAIN", "protocol", "udp", "family", "ipv4"),
		ownSample(t, "dns_nxdomain_responses_by_name_total", 1, "name", name))
	exportertest.CheckREADMEMetrics(t, "README.md", collector.Catalog(), served, exportertest.MetricExceptions{
		OnlyOnEvents:         onlyOnEvents(),
		UndocumentedPrefixes: exporterOwnPrefixes(),
	})
}
