package collector

import (
	"context"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/collectortest"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/histogram"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// dnsTimeout is --collector.dns.timeout in these tests.
const dnsTimeout = time.Second

// ipFamilies are the family label values, in the order of a server's
// addresses (serverAddrs).
var ipFamilies = []string{"ipv4", "ipv6"}

// zoneQueries is the client's plan in TestQueriesToServerInAnotherNetns,
// for each server address: each name and qtype is asked udp times over UDP
// and tcp times over TCP, and answered with rcode (zoneHandler).
var zoneQueries = []zoneQuery{
	{"www.test.", "A", "NOERROR", 5, 3},
	{"www.test.", "AAAA", "NOERROR", 4, 2},
	{"nx.test.", "A", "NXDOMAIN", 3, 1},
	{"fail.test.", "A", "SERVFAIL", 2, 1},
	{"slow.test.", "MX", "NOERROR", 2, 1},
	{"lost.test.", "A", noAnswer, 1, 1},
	{"big.test.", "TXT", "NOERROR", 2, 0}, // truncated over UDP, then asked over TCP
}

// zoneQuery is a row of a client's plan: name and qtype asked udp times
// over UDP and tcp times over TCP, each answered with rcode.
type zoneQuery struct {
	name, qtype, rcode string
	udp, tcp           int
}

// TestQueriesToServerInAnotherNetns queries a real DNS server in namespace
// S from a client in namespace C, over a veth pair, by UDP and TCP, to the
// server's IPv4 and IPv6 address. Every series of the client's cgroup must
// rise by exactly its queries' outcomes, and nothing is counted on the
// server's cgroup: the queries it receives are not a client's.
func TestQueriesToServerInAnotherNetns(t *testing.T) {
	s, c := testenv.NewNetns(t), testenv.NewNetns(t)
	_, es := testenv.NewVeth(t, c, s)
	h := newHarness(t)
	server, client := testenv.NewCgroup(t), testenv.NewCgroup(t)
	servers := serverAddrs(es.IPv4.Addr(), es.IPv6.Addr())
	startZoneServer(t, server, s, servers)

	before, after := runClient(t, h, client, c, plan(servers, zoneQueries))

	want := expected{}
	for _, fam := range ipFamilies {
		perProtocol := []struct {
			metric   string
			labels   []string
			udp, tcp float64
		}{
			// A: www, nx, fail and lost.test.
			{"dns_queries_total", []string{"qtype", "A"}, 11, 6},
			{"dns_queries_total", []string{"qtype", "AAAA"}, 4, 2},
			{"dns_queries_total", []string{"qtype", "MX"}, 2, 1},
			// TXT: big.test. over UDP, then again over TCP.
			{"dns_queries_total", []string{"qtype", "TXT"}, 2, 2},
			{"dns_responses_total", []string{"qtype", "A", "rcode", "NOERROR"}, 5, 3},
			{"dns_responses_total", []string{"qtype", "A", "rcode", "NXDOMAIN"}, 3, 1},
			{"dns_responses_total", []string{"qtype", "A", "rcode", "SERVFAIL"}, 2, 1},
			{"dns_responses_total", []string{"qtype", "AAAA", "rcode", "NOERROR"}, 4, 2},
			{"dns_responses_total", []string{"qtype", "MX", "rcode", "NOERROR"}, 2, 1},
			{"dns_responses_total", []string{"qtype", "TXT", "rcode", "NOERROR"}, 2, 2},
			{"dns_queries_unanswered_total", []string{"qtype", "A"}, 1, 1},
			// Sample counts: one per answered query, all but lost.test.'s.
			{"dns_response_latency_seconds", []string{"qtype", "A"}, 10, 5},
			{"dns_response_latency_seconds", []string{"qtype", "AAAA"}, 4, 2},
			{"dns_response_latency_seconds", []string{"qtype", "MX"}, 2, 1},
			{"dns_response_latency_seconds", []string{"qtype", "TXT"}, 2, 2},
		}
		for _, w := range perProtocol {
			want.add(client, w.metric, w.udp, append(w.labels, "protocol", "udp", "family", fam)...)
			want.add(client, w.metric, w.tcp, append(w.labels, "protocol", "tcp", "family", fam)...)
		}
		want.add(client, "dns_responses_truncated_total", 2, "qtype", "TXT", "family", fam)
	}
	checkWorkload(t, before, after, client, want)
	checkWorkload(t, before, after, server, expected{})
	for _, fam := range ipFamilies {
		checkSlowLatency(t, after, client, "udp", fam, 2)
		checkSlowLatency(t, after, client, "tcp", fam, 1)
	}
}

// TestQueriesOverHostLoopback queries a real DNS server on 127.0.0.1 in the
// test's own network namespace from a client in another cgroup there.
func TestQueriesOverHostLoopback(t *testing.T) {
	h := newHarness(t)
	server, client := testenv.NewCgroup(t), testenv.NewCgroup(t)
	servers := []string{"127.0.0.1:53"}
	startZoneServer(t, server, nil, servers)

	before, after := runClient(t, h, client, nil, plan(servers, []zoneQuery{
		{"www.test.", "A", "NOERROR", 3, 2},
		{"nx.test.", "A", "NXDOMAIN", 2, 1},
		{"www.test.", "AAAA", "NOERROR", 1, 1},
	}))

	want := expected{}
	want.add(client, "dns_queries_total", 5, "qtype", "A", "protocol", "udp", "family", "ipv4")
	want.add(client, "dns_queries_total", 3, "qtype", "A", "protocol", "tcp", "family", "ipv4")
	want.add(client, "dns_queries_total", 1, "qtype", "AAAA", "protocol", "udp", "family", "ipv4")
	want.add(client, "dns_queries_total", 1, "qtype", "AAAA", "protocol", "tcp", "family", "ipv4")
	want.add(client, "dns_responses_total", 3, "qtype", "A", "rcode", "NOERROR", "protocol", "udp", "family", "ipv4")
	want.add(client, "dns_responses_total", 2, "qtype", "A", "rcode", "NOERROR", "protocol", "tcp", "family", "ipv4")
	want.add(client, "dns_responses_total", 2, "qtype", "A", "rcode", "NXDOMAIN", "protocol", "udp", "family", "ipv4")
	want.add(client, "dns_responses_total", 1, "qtype", "A", "rcode", "NXDOMAIN", "protocol", "tcp", "family", "ipv4")
	want.add(client, "dns_responses_total", 1, "qtype", "AAAA", "rcode", "NOERROR", "protocol", "udp", "family", "ipv4")
	want.add(client, "dns_responses_total", 1, "qtype", "AAAA", "rcode", "NOERROR", "protocol", "tcp", "family", "ipv4")
	want.add(client, "dns_response_latency_seconds", 5, "qtype", "A", "protocol", "udp", "family", "ipv4")
	want.add(client, "dns_response_latency_seconds", 3, "qtype", "A", "protocol", "tcp", "family", "ipv4")
	want.add(client, "dns_response_latency_seconds", 1, "qtype", "AAAA", "protocol", "udp", "family", "ipv4")
	want.add(client, "dns_response_latency_seconds", 1, "qtype", "AAAA", "protocol", "tcp", "family", "ipv4")
	checkWorkload(t, before, after, client, want)
	checkWorkload(t, before, after, server, expected{})
}

// TestNetnsCreatedAfterStartIsCovered makes the namespaces, their veth pair
// and the server after the collector has started and served a scrape: the
// programs on the cgroup root see their sockets at once.
func TestNetnsCreatedAfterStartIsCovered(t *testing.T) {
	h := newHarness(t)
	h.Scrape()
	s, c := testenv.NewNetns(t), testenv.NewNetns(t)
	_, es := testenv.NewVeth(t, c, s)
	server, client := testenv.NewCgroup(t), testenv.NewCgroup(t)
	servers := serverAddrs(es.IPv4.Addr(), es.IPv6.Addr())
	startZoneServer(t, server, s, servers)

	before, after := runClient(t, h, client, c, plan(servers, []zoneQuery{
		{"www.test.", "A", "NOERROR", 2, 1},
		{"www.test.", "AAAA", "NOERROR", 1, 3},
	}))

	want := expected{}
	for _, fam := range ipFamilies {
		want.add(client, "dns_queries_total", 2, "qtype", "A", "protocol", "udp", "family", fam)
		want.add(client, "dns_queries_total", 1, "qtype", "A", "protocol", "tcp", "family", fam)
		want.add(client, "dns_queries_total", 1, "qtype", "AAAA", "protocol", "udp", "family", fam)
		want.add(client, "dns_queries_total", 3, "qtype", "AAAA", "protocol", "tcp", "family", fam)
		want.add(client, "dns_responses_total", 2, "qtype", "A", "rcode", "NOERROR", "protocol", "udp", "family", fam)
		want.add(client, "dns_responses_total", 1, "qtype", "A", "rcode", "NOERROR", "protocol", "tcp", "family", fam)
		want.add(client, "dns_responses_total", 1, "qtype", "AAAA", "rcode", "NOERROR", "protocol", "udp", "family", fam)
		want.add(client, "dns_responses_total", 3, "qtype", "AAAA", "rcode", "NOERROR", "protocol", "tcp", "family", fam)
		want.add(client, "dns_response_latency_seconds", 2, "qtype", "A", "protocol", "udp", "family", fam)
		want.add(client, "dns_response_latency_seconds", 1, "qtype", "A", "protocol", "tcp", "family", fam)
		want.add(client, "dns_response_latency_seconds", 1, "qtype", "AAAA", "protocol", "udp", "family", fam)
		want.add(client, "dns_response_latency_seconds", 3, "qtype", "AAAA", "protocol", "tcp", "family", fam)
	}
	checkWorkload(t, before, after, client, want)
	checkWorkload(t, before, after, server, expected{})
}

// malformedDatagrams are the datagrams of TestMalformedPacketsByReason:
// each is sent n times to 127.0.0.1:53 and n times to [::1]:53.
var malformedDatagrams = []struct {
	what   string
	reason string
	data   []byte
	n      int
}{
	{"header cut after 5 bytes", "truncated", dnsHeader(1)[:5], 2},
	{"question cut inside its first label", "truncated", append(dnsHeader(1), 3, 'w', 'w'), 1},
	{"label length 0x40", "bad_label", question(0x40, 'x', 0), 2},
	{"label length 0xBF", "bad_label", question(0xbf, 'x', 0), 2},
	{"pointer forward", "compression_loop", question(0xc0, 0x20), 1},
	{"pointer to itself", "compression_loop", question(0xc0, 0x0c), 2},
	{"pointer into the header", "compression_loop", question(0xc0, 0x04), 2},
	{"name of 4 labels of 63 bytes and one of 3", "name_too_long", question(longName()...), 2},
	{"qdcount 0", "no_question", dnsHeader(0), 1},
}

// TestMalformedPacketsByReason sends malformed DNS queries over UDP to
// port 53, where a socket reads and drops them. Each reason rises by
// exactly the datagrams sent of it, and nothing is counted on the sender's
// cgroup.
func TestMalformedPacketsByReason(t *testing.T) {
	h := newHarness(t)
	n := testenv.NewNetns(t)
	sender := testenv.NewCgroup(t)
	args := []string{"-netns=" + n.Name, "-to=127.0.0.1:53,[::1]:53"}
	for _, d := range malformedDatagrams {
		args = append(args, strconv.Itoa(d.n)+":"+hex.EncodeToString(d.data))
	}
	p := sender.Start(t, "udp-send", args...)
	before := h.Scrape()
	p.Go(t)
	waitSuccess(t, "udp-send", p)
	after := h.Scrape()

	for reason, want := range map[string]float64{
		"truncated":        6,
		"bad_label":        8,
		"compression_loop": 10,
		"name_too_long":    4,
		"no_question":      2,
	} {
		if got := collectortest.Delta(before, after, "dns_packets_malformed_total", "reason", reason); got != want {
			t.Errorf("dns_packets_malformed_total{reason=%q}: +%v, want +%v", reason, got, want)
		}
	}
	checkWorkload(t, before, after, sender, expected{})
}

// A client that gives up on a query and sends another with the same id on
// the same socket before the timeout: each query is either answered or
// unanswered, none vanishes (the second overwrote the first's pending entry,
// which was then never counted).
func TestQueryIDReusedOnASocketIsCounted(t *testing.T) {
	h := newHarness(t)
	n := testenv.NewNetns(t)
	sender := testenv.NewCgroup(t)
	query := question(3, 'w', 'w', 'w', 4, 't', 'e', 's', 't', 0) // id 0x1234, A
	p := sender.Start(t, "udp-send", "-netns="+n.Name, "-to=127.0.0.1:53", "3:"+hex.EncodeToString(query))
	before := h.Scrape()
	p.Go(t)
	waitSuccess(t, "udp-send", p)
	time.Sleep(dnsTimeout + dnsTimeout/2)
	after := h.Scrape()
	want := expected{}
	want.add(sender, "dns_queries_total", 3, "qtype", "A", "protocol", "udp", "family", "ipv4")
	// Two superseded by the next query with their id, one past the timeout.
	want.add(sender, "dns_queries_unanswered_total", 3, "qtype", "A", "protocol", "udp", "family", "ipv4")
	checkWorkload(t, before, after, sender, want)
}

// A workload that floods the node with queries nobody answers fills its
// own share of the pending table, not the table: another workload asking
// meanwhile keeps every latency sample, and the flood's queries beyond its
// share are counted against the flooder. Once the workloads together hold
// the whole table, further queries are counted against whoever sent them.
func TestFloodingWorkloadDoesNotBlindOthers(t *testing.T) {
	const share, table, flood = 100, 256, 1000
	timeout := 3 * time.Second // the floods and the victim finish well inside it
	h := newHarnessWith(t, Options{Ports: []uint16{53}, Timeout: timeout, PendingMax: table, PendingPerWorkload: share})
	s, c := testenv.NewNetns(t), testenv.NewNetns(t)
	_, es := testenv.NewVeth(t, c, s)
	server, victim := testenv.NewCgroup(t), testenv.NewCgroup(t)
	flooders := []*testenv.Cgroup{testenv.NewCgroup(t), testenv.NewCgroup(t), testenv.NewCgroup(t)}
	servers := serverAddrs(es.IPv4.Addr(), es.IPv6.Addr())[:1]
	startZoneServer(t, server, s, servers)
	query := hex.EncodeToString(question(3, 'w', 'w', 'w', 4, 't', 'e', 's', 't', 0)) // A
	floodNetns := testenv.NewNetns(t)
	floodFrom := func(cg *testenv.Cgroup) {
		t.Helper()
		p := cg.Start(t, "udp-send", "-netns="+floodNetns.Name, "-vary-id", "-to=127.0.0.1:53", fmt.Sprintf("%d:%s", flood, query))
		p.Go(t)
		waitSuccess(t, "udp-send", p)
	}
	victimClient := victim.Start(t, "dns-client", append([]string{"-netns=" + c.Name},
		plan(servers, []zoneQuery{{"www.test.", "A", "NOERROR", 50, 0}})...)...)

	before := h.Scrape()
	start := time.Now()
	floodFrom(flooders[0])
	floodFrom(flooders[1])
	victimClient.Go(t) // while 2 × share of the table is taken
	waitSuccess(t, "dns-client", victimClient)
	floodFrom(flooders[2]) // the rest of the table, then table_full
	if took := time.Since(start); took >= timeout {
		t.Fatalf("the floods and the victim took %s, not within the %s timeout: rerun on a less loaded host", took, timeout)
	}
	time.Sleep(timeout + timeout/2)
	after := h.Scrape()

	v4udp := []string{"qtype", "A", "protocol", "udp", "family", "ipv4"}
	want := expected{}
	want.add(victim, "dns_queries_total", 50, v4udp...)
	want.add(victim, "dns_responses_total", 50, "qtype", "A", "rcode", "NOERROR", "protocol", "udp", "family", "ipv4")
	want.add(victim, "dns_response_latency_seconds", 50, v4udp...)
	checkWorkload(t, before, after, victim, want)
	for i, f := range flooders {
		tracked, limited, full := float64(share), float64(flood-share), 0.0
		if i == 2 { // the table holds 256: 2 × 100 taken, 56 left
			tracked, limited, full = table-2*share, 0, flood-(table-2*share)
		}
		want := expected{}
		want.add(f, "dns_queries_total", flood, v4udp...)
		want.add(f, "dns_queries_unanswered_total", tracked, v4udp...)
		if limited > 0 {
			want.add(f, "dns_queries_untracked_total", limited, append(v4udp, "reason", "workload_limit")...)
		}
		if full > 0 {
			want.add(f, "dns_queries_untracked_total", full, append(v4udp, "reason", "table_full")...)
		}
		checkWorkload(t, before, after, f, want)
	}
}

// NXDOMAIN responses that answer no query of the socket they reach (spoofed)
// are counted as responses, but their names never reach user space: a
// flood of them cannot grow the exporter's memory.
func TestUnaskedNXDOMAINNamesAreIgnored(t *testing.T) {
	h := newHarnessWith(t, Options{Ports: []uint16{5354}, Timeout: dnsTimeout, Names: true, NamesMax: 100})
	n := testenv.NewNetns(t)
	sender := testenv.NewCgroup(t)
	response := question(7, 'n', 'x', 's', 'p', 'o', 'o', 'f', 4, 't', 'e', 's', 't', 0)
	response[2], response[3] = 0x81, 0x83 // QR, RD, RA, NXDOMAIN
	p := sender.Start(t, "udp-send", "-netns="+n.Name, "-from=127.0.0.1:5354", "-to=127.0.0.1:40053",
		"50:"+hex.EncodeToString(response))
	before := h.Scrape()
	p.Go(t)
	waitSuccess(t, "udp-send", p)
	after := h.Scrape()
	want := expected{}
	want.add(sender, "dns_responses_total", 50, "qtype", "A", "rcode", "NXDOMAIN", "protocol", "udp", "family", "ipv4")
	checkWorkload(t, before, after, sender, want) // and no dns_nxdomain_responses_by_name_total
}

// dnsHeader is the header of a query with id 0x1234, RD set and qdcount
// questions.
func dnsHeader(qdcount uint16) []byte {
	return []byte{0x12, 0x34, 0x01, 0x00, byte(qdcount >> 8), byte(qdcount), 0, 0, 0, 0, 0, 0}
}

// question is a query of one question whose name is the given bytes,
// followed by QTYPE A and QCLASS IN.
func question(name ...byte) []byte {
	return append(append(dnsHeader(1), name...), 0, 1, 0, 1)
}

// longName is a name in wire format of 4*64+4 = 260 bytes, over the 255
// that RFC 1035 allows.
func longName() []byte {
	var b []byte
	for range 4 {
		b = append(b, 63)
		for range 63 {
			b = append(b, 'a')
		}
	}
	return append(b, 3, 'c', 'o', 'm', 0)
}

func newHarness(t *testing.T) *collectortest.Harness {
	t.Helper()
	return newHarnessWith(t, Options{Ports: []uint16{53}, Timeout: dnsTimeout})
}

// newHarnessWith runs the collector with o (and the harness's opts) until
// the test ends.
func newHarnessWith(t *testing.T, o Options, opts ...collectortest.Option) *collectortest.Harness {
	t.Helper()
	return collectortest.New(t, namespace, "dns", func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
		return New(ctx, env, o)
	}, opts...)
}

// serverAddrs are port 53 of a server's IPv4 and IPv6 address.
func serverAddrs(v4, v6 netip.Addr) []string {
	return []string{netip.AddrPortFrom(v4, 53).String(), netip.AddrPortFrom(v6, 53).String()}
}

// plan is a dns-client's arguments: each row over UDP, then over TCP, to
// each server in turn.
func plan(servers []string, rows []zoneQuery) []string {
	var args []string
	for _, s := range servers {
		for _, r := range rows {
			if r.udp > 0 {
				args = append(args, query{"udp", s, r.name, r.qtype, r.rcode, r.udp}.String())
			}
			if r.tcp > 0 {
				args = append(args, query{"tcp", s, r.name, r.qtype, r.rcode, r.tcp}.String())
			}
		}
	}
	return args
}

// startZoneServer starts a dns-server workload in cg, in netns when it is
// not nil, and returns once it listens on addrs.
func startZoneServer(t *testing.T, cg *testenv.Cgroup, netns *testenv.Netns, addrs []string) {
	t.Helper()
	ready := filepath.Join(t.TempDir(), "listening")
	args := []string{"-ready=" + ready}
	if netns != nil {
		args = append(args, "-netns="+netns.Name)
	}
	p := cg.Start(t, "dns-server", append(args, addrs...)...)
	p.Go(t)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(ready); err == nil {
			return
		}
	}
	t.Fatalf("dns-server did not create %s in 10s", ready)
}

// runClient runs a dns-client workload in cg, in netns when it is not nil, with
// the given plan, and returns the scrapes before it and after it, the
// latter taken once its unanswered queries are past the timeout.
func runClient(t *testing.T, h *collectortest.Harness, cg *testenv.Cgroup, netns *testenv.Netns, plan []string) (before, after collectortest.Snapshot) {
	t.Helper()
	var args []string
	if netns != nil {
		args = append(args, "-netns="+netns.Name)
	}
	p := cg.Start(t, "dns-client", append(args, plan...)...)
	before = h.Scrape()
	p.Go(t)
	waitSuccess(t, "dns-client", p)
	time.Sleep(dnsTimeout + dnsTimeout/2)
	return before, h.Scrape()
}

func waitSuccess(t *testing.T, name string, p *testenv.Process) {
	t.Helper()
	if code := p.Wait(t); code != 0 {
		t.Fatalf("%s exited %d", name, code)
	}
}

// expected maps series names to how much they must rise: a counter's value,
// a histogram's sample count. Series absent must not rise.
type expected map[string]float64

func (e expected) add(cg *testenv.Cgroup, metric string, delta float64, kv ...string) {
	e[collectortest.SeriesOf(metric, collectortest.WorkloadLabels(cg, kv...)...)] = delta
}

// checkWorkload checks that every series of cg's workload rose by exactly
// what want says, and that cg has no series that want does not name.
func checkWorkload(t *testing.T, before, after collectortest.Snapshot, cg *testenv.Cgroup, want expected) {
	t.Helper()
	var names []string
	for name := range want {
		names = append(names, name)
	}
	for name, m := range after {
		if _, ok := want[name]; !ok && cgroupOf(m) == cg.Path {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	for _, name := range names {
		if got := value(after[name]) - value(before[name]); got != want[name] {
			t.Errorf("%s: +%v, want +%v", name, got, want[name])
		}
	}
}

func cgroupOf(m *dto.Metric) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == "cgroup" {
			return l.GetValue()
		}
	}
	return ""
}

// value is a counter's value or a histogram's sample count; 0 for nil.
func value(m *dto.Metric) float64 {
	if h := m.GetHistogram(); h != nil {
		return float64(h.GetSampleCount())
	}
	return m.GetCounter().GetValue()
}

// checkSlowLatency checks that the n answers to slow.test. (MX, answered
// after slowDelay) over proto and family are in the classic bucket
// le=0.0625, which holds 50 ms, and not in le=0.03125, and in the native
// buckets from the one that holds 50 ms to the one that ends at 62.5 ms.
func checkSlowLatency(t *testing.T, after collectortest.Snapshot, cg *testenv.Cgroup, proto, family string, n uint64) {
	t.Helper()
	labels := collectortest.WorkloadLabels(cg, "qtype", "MX", "protocol", proto, "family", family)
	name := collectortest.SeriesOf("dns_response_latency_seconds", labels...)
	h := after.Histogram("dns_response_latency_seconds", labels...)
	if got := collectortest.ClassicCount(h, 0.03125); got != 0 {
		t.Errorf("%s: %d samples <= 31.25ms, want 0", name, got)
	}
	if got := collectortest.ClassicCount(h, 0.0625); got != n {
		t.Errorf("%s: %d samples <= 62.5ms, want %d", name, got, n)
	}
	lo, hi := histogram.BucketOfNanos(uint64(slowDelay)), histogram.BucketOfNanos(62_500_000)
	var in uint64
	for i, c := range nativeBuckets(h) {
		if i >= lo && i <= hi {
			in += c
		}
	}
	if in != n {
		t.Errorf("%s: %d samples in native buckets %d..%d, want %d (buckets %v)", name, in, lo, hi, n, nativeBuckets(h))
	}
}

// nativeBuckets decodes h's positive native buckets: index → count.
func nativeBuckets(h *dto.Histogram) map[int32]uint64 {
	out := make(map[int32]uint64)
	var i int32
	var count int64
	deltas := h.GetPositiveDelta()
	for _, span := range h.GetPositiveSpan() {
		i += span.GetOffset()
		for range span.GetLength() {
			count += deltas[0]
			deltas = deltas[1:]
			out[i] = uint64(count)
			i++
		}
	}
	return out
}

// TestNXDOMAINNamesFromTheRingBuffer queries a real DNS server on port 5354
// (so that no other test's NXDOMAIN responses on port 53 take name slots)
// in a network namespace of its own, with --collector.dns.names and
// --collector.dns.names.max=2: the kernel sends each NXDOMAIN response's
// name through the ring buffer, and the first two names, lower-cased, are
// counted under their own name and the others under the overflow name, in
// the order the responses arrived. Responses other than NXDOMAIN count no
// name.
func TestNXDOMAINNamesFromTheRingBuffer(t *testing.T) {
	h := newHarnessWith(t, Options{Ports: []uint16{5354}, Timeout: dnsTimeout, Names: true, NamesMax: 2})
	n := testenv.NewNetns(t)
	server, client := testenv.NewCgroup(t), testenv.NewCgroup(t)
	servers := []string{"127.0.0.1:5354"}
	startZoneServer(t, server, n, servers)

	before, after := runClient(t, h, client, n, plan(servers, []zoneQuery{
		{"nx1.test.", "A", "NXDOMAIN", 2, 1},
		{"www.test.", "A", "NOERROR", 1, 1},
		{"NX2.Test.", "AAAA", "NXDOMAIN", 1, 0},
		{"nx3.test.", "A", "NXDOMAIN", 1, 1},
		{"fail.test.", "A", "SERVFAIL", 1, 0},
		{"nx4.test.", "TXT", "NXDOMAIN", 1, 0},
	}))

	want := map[string]float64{"nx1.test.": 3, "nx2.test.": 1, "__overflow__": 3}
	for name, n := range want {
		labels := collectortest.WorkloadLabels(client, "name", name)
		if got := collectortest.Delta(before, after, "dns_nxdomain_responses_by_name_total", labels...); got != n {
			t.Errorf("%s: +%v, want +%v", collectortest.SeriesOf("dns_nxdomain_responses_by_name_total", labels...), got, n)
		}
	}
	for series, m := range after {
		if strings.HasPrefix(series, "dns_nxdomain_responses_by_name_total{") && cgroupOf(m) == client.Path {
			if _, ok := want[nameOf(m)]; !ok {
				t.Errorf("%s served, want only the names %v", series, want)
			}
		}
	}
}

func nameOf(m *dto.Metric) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == "name" {
			return l.GetValue()
		}
	}
	return ""
}
