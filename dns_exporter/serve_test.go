package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// The tests query with QTYPE SRV, which no other test sends from the test
// process's cgroup, so that the counts they expect are exact.

// uniqueName returns a name under bpfleet.test. that no other run queries.
func uniqueName() string { return fmt.Sprintf("e2e-%08x.bpfleet.test.", rand.Uint32()) }

func TestStartsWithEveryProgramAttached(t *testing.T) {
	testenv.RequireRoot(t)
	p := exportertest.Start(t, binary)
	p.WaitForMetric(t, "dns_scrape_collector_success", "collector", map[string]float64{"dns": 1})
	p.WaitForMetric(t, "dns_exporter_bpf_program_attached", "program",
		map[string]float64{"cgroup_mkdir": 1, "cgroup_rmdir": 1, "dns_egress": 1, "dns_ingress": 1})
	for _, path := range []string{"/healthz", "/readyz"} {
		if r := p.Get(t, path); r.Code != http.StatusOK {
			t.Errorf("GET %s = %d %s, want 200", path, r.Code, r.Body)
		}
	}
}

func TestMetricsPassPromtoolCheck(t *testing.T) {
	testenv.RequireRoot(t)
	exportertest.RequireCommand(t, "promtool", "make test installs it with the prometheus Debian package")
	p := exportertest.Start(t, binary, "--collector.dns.names")
	waitReady(t, p)
	// Traffic, so that every family of a query and its response is served.
	name := uniqueName()
	startResponder(t, dns.RcodeNameError).ask(t, name, dns.TypeSRV, dns.RcodeNameError)
	waitForSamples(t, p,
		ownSample(t, "dns_queries_total", 1, "qtype", "SRV", "protocol", "udp", "family", "ipv4"),
		ownSample(t, "dns_nxdomain_responses_by_name_total", 1, "name", name))

	r := p.Get(t, "/metrics")
	if r.Code != http.StatusOK || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
		t.Fatalf("GET /metrics: %d, Content-Type %q; want 200 and the text format", r.Code, r.Header.Get("Content-Type"))
	}
	fams, err := exportertest.Parse(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, family := range []string{"dns_exporter_build_info", "dns_queries_total", "dns_responses_total",
		"dns_response_latency_seconds", "dns_nxdomain_responses_by_name_total"} {
		if fams[family] == nil {
			t.Errorf("%s not served", family)
		}
	}
	exportertest.PromtoolCheck(t, r.Body)
}

func TestQueriesAndResponsesCountedForTheTestsCgroup(t *testing.T) {
	testenv.RequireRoot(t)
	p := exportertest.Start(t, binary)
	waitReady(t, p)
	server := startResponder(t, dns.RcodeSuccess)
	const queries = 3
	for range queries {
		server.ask(t, "_e2e._udp.bpfleet.test.", dns.TypeSRV, dns.RcodeSuccess)
	}
	waitForSamples(t, p,
		ownSample(t, "dns_queries_total", queries, "qtype", "SRV", "protocol", "udp", "family", "ipv4"),
		ownSample(t, "dns_responses_total", queries, "qtype", "SRV", "rcode", "NOERROR", "protocol", "udp", "family", "ipv4"),
		ownSample(t, "dns_response_latency_seconds", queries, "qtype", "SRV", "protocol", "udp", "family", "ipv4"))
}

func TestNXDOMAINCountedByName(t *testing.T) {
	testenv.RequireRoot(t)
	p := exportertest.Start(t, binary, "--collector.dns.names")
	waitReady(t, p)
	server := startResponder(t, dns.RcodeNameError)
	name := uniqueName()
	const queries = 2
	for range queries {
		server.ask(t, name, dns.TypeSRV, dns.RcodeNameError)
	}
	fams := waitForSamples(t, p,
		ownSample(t, "dns_responses_total", queries, "qtype", "SRV", "rcode", "NXDOMAIN", "protocol", "udp", "family", "ipv4"),
		ownSample(t, "dns_nxdomain_responses_by_name_total", queries, "name", name))
	noError := ownSample(t, "dns_responses_total", 0, "qtype", "SRV", "rcode", "NOERROR", "protocol", "udp", "family", "ipv4")
	if got, ok := served(fams, noError); ok {
		t.Errorf("%s = %v, want no such series", noError, got)
	}
}

func TestBadFlagsExitWithUsageError(t *testing.T) {
	for _, tt := range []struct {
		arg  string
		want string // all of stderr
	}{
		{"--collector.dns.ports=0", `dns_exporter: error: --collector.dns.ports: "0" is not a port, try --help` + "\n"},
		{"--collector.dns.ports=abc", `dns_exporter: error: --collector.dns.ports: "abc" is not a port, try --help` + "\n"},
		{"--collector.dns.ports=53,70000", `dns_exporter: error: --collector.dns.ports: "70000" is not a port, try --help` + "\n"},
		{"--collector.dns.timeout=-1s", "dns_exporter: error: --collector.dns.timeout: must be positive, got -1s, try --help\n"},
		{"--collector.dns.timeout=soon", `dns_exporter: error: --collector.dns.timeout: time: invalid duration "soon", try --help` + "\n"},
		{"--collector.dns.names.max=0", "dns_exporter: error: --collector.dns.names.max: must be at least 1, got 0, try --help\n"},
		{"--collector.dsn", "dns_exporter: error: unknown long flag '--collector.dsn', try --help\n"},
	} {
		t.Run(tt.arg, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(binary, exportertest.ListenArgs(tt.arg)...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			if code := cmd.ProcessState.ExitCode(); code != 2 {
				t.Errorf("exit code %d (%v), want 2", code, err)
			}
			if stderr.String() != tt.want || stdout.Len() != 0 {
				t.Errorf("stderr %q, stdout %q; want stderr %q and no stdout", stderr.String(), stdout.String(), tt.want)
			}
		})
	}
}
