package collector

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/bpfleet/bpfleet/internal/histogram"
	bpfmaps "github.com/bpfleet/bpfleet/internal/maps"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// These tests run the in-kernel parser (bpf/dns/dns.bpf.c) on crafted
// packets with BPF_PROG_TEST_RUN: dns_egress and dns_ingress are loaded, not
// attached, and each case checks every row the packet leaves in the maps.
//
// What a test run gives a cgroup_skb program (net/bpf/test_run.c,
// bpf_prog_test_run_skb; checked on Linux 6.18):
//   - The input is an Ethernet frame. The kernel sets skb->protocol from its
//     EtherType (eth_type_trans) and strips the 14 bytes, so the program sees
//     the IP header at offset 0, as it does on a real socket.
//   - Each run gets a socket of its own that the kernel makes for it
//     (sk_alloc). bpf_skb_cgroup_id is therefore the cgroup v2 of the process
//     that runs the test, not 0, and bpf_get_socket_cookie is a new cookie
//     from the kernel's global counter on every run (the repetitions of one
//     run share it). A query and its response never share a socket here:
//     TestParserResponseMatchesItsQuery makes up for that.

// Ports of the client (an ephemeral port) and of the DNS server; the DNS
// id of every query that the table counts, and of the probe query.
const (
	clientPort = 40000
	serverPort = 53
	queryID    = 0x1234
	probeID    = 0xbeef
)

// flow is a packet's source and destination port.
type flow struct{ src, dst uint16 }

var (
	toServer   = flow{clientPort, serverPort}
	fromServer = flow{serverPort, clientPort}
)

// parser is the loaded collection and the cgroup its test runs count under.
type parser struct {
	objs   dnsObjects
	cgroup uint64
}

// loadParser loads the programs and maps, with port 53 as the DNS port in
// network byte order (as New does), and closes them when the test ends.
func loadParser(tb testing.TB) *parser {
	tb.Helper()
	return loadParserWith(tb, 0)
}

// loadParserWith is loadParser with pending_per_workload set to
// perWorkload (0: the program's default).
func loadParserWith(tb testing.TB, perWorkload uint32) *parser {
	tb.Helper()
	testenv.RequireRoot(tb)
	spec, err := loadDns()
	if err != nil {
		tb.Fatal(err)
	}
	if perWorkload != 0 {
		if err := spec.Variables[dnsVarPendingPerWorkload].Set(perWorkload); err != nil {
			tb.Fatal(err)
		}
	}
	if err := spec.Variables[dnsVarDnsPortBits].Set(portBits([]uint16{serverPort})); err != nil {
		tb.Fatal(err)
	}
	p := &parser{cgroup: selfCgroupID(tb)}
	if err := spec.LoadAndAssign(&p.objs, nil); err != nil {
		tb.Fatalf("loading dns programs: %v", err)
	}
	tb.Cleanup(func() { p.objs.Close() })
	return p
}

// selfCgroupID is the cgroup v2 id of the test process: the inode of its
// cgroup directory.
func selfCgroupID(tb testing.TB) uint64 {
	tb.Helper()
	root, err := testenv.V2Root()
	if err != nil {
		tb.Skip(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(root, testenv.SelfCgroupPath(tb)), &st); err != nil {
		tb.Fatal(err)
	}
	return st.Ino
}

// reset empties the maps that packets fill, as a fresh load leaves them.
func (p *parser) reset(tb testing.TB) {
	tb.Helper()
	for _, m := range []*ebpf.Map{p.objs.DnsCounts, p.objs.DnsLatency, p.objs.DnsPending} {
		for {
			k, err := m.NextKeyBytes(nil)
			if err != nil {
				tb.Fatal(err)
			}
			if k == nil {
				break
			}
			if err := m.Delete(k); err != nil {
				tb.Fatal(err)
			}
		}
	}
	zeros := make([]uint64, ebpf.MustPossibleCPU())
	for _, m := range []*ebpf.Map{p.objs.DnsMalformed, p.objs.LostEvents} {
		for i := range m.MaxEntries() {
			if err := m.Put(i, zeros); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// run runs prog once on frame and requires it to let the packet pass.
func (p *parser) run(tb testing.TB, prog *ebpf.Program, frame []byte) {
	tb.Helper()
	ret, err := prog.Run(&ebpf.RunOptions{Data: frame})
	if err != nil {
		tb.Fatalf("running %s: %v", prog, err)
	}
	if ret != 1 {
		tb.Fatalf("%s returned %d, want 1 (pass)", prog, ret)
	}
}

// counts reads dns_counts as "kind qtype [rcode] [protocol] family" → count,
// and requires every row to be under the test's cgroup.
func (p *parser) counts(tb testing.TB) map[string]uint64 {
	tb.Helper()
	rows, err := bpfmaps.ReadCounters(p.objs.DnsCounts)
	if err != nil {
		tb.Fatal(err)
	}
	out := make(map[string]uint64)
	for k, v := range rows {
		if k.ID != p.cgroup {
			tb.Errorf("counter %#x under cgroup %d, want the test's cgroup %d", k.Event, k.ID, p.cgroup)
		}
		out[eventName(tb, k.Event)] += v
	}
	return out
}

// eventName names a counter_key.event "kind qtype [rcode] [protocol]
// family" (kind: query, response, superseded, untracked-limit,
// untracked-full or truncated), decoded with the generated bit layout.
func eventName(tb testing.TB, raw uint32) string {
	tb.Helper()
	e, err := decodeEvent(raw)
	if err != nil {
		tb.Fatal(err)
	}
	switch e.kind {
	case dnsDnsKindDNS_QUERY:
		if e.rcode != rcodes[dnsDnsRcodeRC_NOERROR] {
			tb.Errorf("query event %#x has an rcode", raw)
		}
		return strings.Join([]string{"query", e.qtype, e.proto, e.fam}, " ")
	case dnsDnsKindDNS_RESPONSE:
		return strings.Join([]string{"response", e.qtype, e.rcode, e.proto, e.fam}, " ")
	case dnsDnsKindDNS_SUPERSEDED:
		return strings.Join([]string{"superseded", e.qtype, e.proto, e.fam}, " ")
	case dnsDnsKindDNS_UNTRACKED_LIMIT:
		return strings.Join([]string{"untracked-limit", e.qtype, e.proto, e.fam}, " ")
	case dnsDnsKindDNS_UNTRACKED_FULL:
		return strings.Join([]string{"untracked-full", e.qtype, e.proto, e.fam}, " ")
	default: // dnsDnsKindDNS_TRUNCATED
		if e.rcode != rcodes[dnsDnsRcodeRC_NOERROR] || e.proto != "udp" {
			tb.Errorf("truncated event %#x has an rcode or protocol", raw)
		}
		return strings.Join([]string{"truncated", e.qtype, e.fam}, " ")
	}
}

// malformed reads dns_malformed as reason → count, leaving out zeros.
func (p *parser) malformed(tb testing.TB) map[string]uint64 {
	tb.Helper()
	out := make(map[string]uint64)
	for i, reason := range malformedReasons {
		var perCPU []uint64
		if err := p.objs.DnsMalformed.Lookup(uint32(i), &perCPU); err != nil {
			tb.Fatal(err)
		}
		for _, v := range perCPU {
			if v > 0 {
				out[reason] += v
			}
		}
	}
	return out
}

// pending reads dns_pending.
func (p *parser) pending(tb testing.TB) map[dnsPendingKey]dnsPendingQuery {
	tb.Helper()
	out := make(map[dnsPendingKey]dnsPendingQuery)
	var k dnsPendingKey
	var q dnsPendingQuery
	it := p.objs.DnsPending.Iterate()
	for it.Next(&k, &q) {
		out[k] = q
	}
	if err := it.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// latency reads dns_latency as "qtype protocol family" → its rows.
func (p *parser) latency(tb testing.TB) map[string][]latencyRow {
	tb.Helper()
	rows, err := bpfmaps.ReadHistograms(p.objs.DnsLatency)
	if err != nil {
		tb.Fatal(err)
	}
	out := make(map[string][]latencyRow)
	for k, v := range rows {
		if k.ID != p.cgroup {
			tb.Errorf("latency row under cgroup %d, want the test's cgroup %d", k.ID, p.cgroup)
		}
		out[labelsName(tb, k.Labels)] = append(out[labelsName(tb, k.Labels)], latencyRow{k.Bucket, v})
	}
	return out
}

type latencyRow struct {
	bucket int32
	value  bpfmaps.HistValue
}

// labelsName decodes HIST_LABELS: qtype | tcp<<8 | ipv6<<9.
func labelsName(tb testing.TB, l uint32) string {
	tb.Helper()
	qt, proto, fam, err := histLabels(l)
	if err != nil {
		tb.Fatal(err)
	}
	return strings.Join([]string{qt, proto, fam}, " ")
}

// requireNothingLost requires lost_events to be all zero.
func (p *parser) requireNothingLost(tb testing.TB) {
	tb.Helper()
	lost, err := bpfmaps.ReadLost(p.objs.LostEvents)
	if err != nil {
		tb.Fatal(err)
	}
	for i, n := range lost {
		if n != 0 {
			tb.Errorf("lost_events[%s] = %d, want 0", bpfmaps.LostReasons[i], n)
		}
	}
}

func monotonicNow(tb testing.TB) uint64 {
	tb.Helper()
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		tb.Fatal(err)
	}
	return uint64(ts.Nano())
}

// parseCase is one packet and everything it must leave in the maps.
type parseCase struct {
	name   string
	egress bool   // run dns_egress (a packet the socket sends), else dns_ingress
	frame  []byte // Ethernet frame
	// counts are the dns_counts increments, named as eventName does; an
	// egress query also leaves exactly one dns_pending row.
	counts    map[string]uint64
	malformed string // the one dns_malformed reason counted once, "" for none
}

func TestParserCountsPackets(t *testing.T) {
	p := loadParser(t)
	for _, tc := range parseCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			p.reset(t)
			prog := p.objs.DnsIngress
			if tc.egress {
				prog = p.objs.DnsEgress
			}
			before := monotonicNow(t)
			p.run(t, prog, tc.frame)
			after := monotonicNow(t)

			if got, want := p.counts(t), nonNil(tc.counts); !maps.Equal(got, want) {
				t.Errorf("dns_counts = %v, want %v", got, want)
			}
			wantMalformed := map[string]uint64{}
			if tc.malformed != "" {
				wantMalformed[tc.malformed] = 1
			}
			if got := p.malformed(t); !maps.Equal(got, wantMalformed) {
				t.Errorf("dns_malformed = %v, want %v", got, wantMalformed)
			}
			p.checkPending(t, tc, before, after)
			if got := p.latency(t); len(got) != 0 {
				t.Errorf("dns_latency = %v, want no rows", got)
			}
			p.requireNothingLost(t)
		})
	}
}

// checkPending requires one dns_pending row, with the query's id, cgroup,
// labels and a time within the run, after a counted query, and none
// otherwise.
func (p *parser) checkPending(tb testing.TB, tc parseCase, before, after uint64) {
	tb.Helper()
	got := p.pending(tb)
	var query string
	for name := range tc.counts {
		if strings.HasPrefix(name, "query ") {
			query = strings.TrimPrefix(name, "query ")
		}
	}
	if query == "" {
		if len(got) != 0 {
			tb.Errorf("dns_pending = %v, want no rows", got)
		}
		return
	}
	if len(got) != 1 {
		tb.Fatalf("dns_pending has %d rows, want 1: %v", len(got), got)
	}
	for k, q := range got {
		if k.Id != wireID(queryID) {
			tb.Errorf("pending id %#04x, want %#04x (%#04x as it is on the wire)", k.Id, wireID(queryID), queryID)
		}
		if k.Cookie == 0 {
			tb.Error("pending socket cookie is 0")
		}
		if q.Cgroup != p.cgroup {
			tb.Errorf("pending cgroup %d, want %d", q.Cgroup, p.cgroup)
		}
		if name := labelsName(tb, q.Labels); name != query {
			tb.Errorf("pending labels %q, want %q", name, query)
		}
		if q.Ts < before || q.Ts > after {
			tb.Errorf("pending time %d outside the run [%d, %d]", q.Ts, before, after)
		}
	}
}

func nonNil(m map[string]uint64) map[string]uint64 {
	if m == nil {
		return map[string]uint64{}
	}
	return m
}

func parseCases(tb testing.TB) []parseCase {
	tb.Helper()
	qA := packMsg(tb, newQuery(queryID, dns.TypeA, "example.com."))
	rA := packMsg(tb, newResponse(tb, queryID, dns.TypeA, "example.com.", dns.RcodeSuccess))
	cases := []parseCase{
		// Families and transports.
		{name: "query/udp/ipv4", egress: true, frame: inIPv4(overUDP(toServer, qA)),
			counts: map[string]uint64{"query A udp ipv4": 1}},
		{name: "query/udp/ipv6", egress: true, frame: inIPv6(overUDP(toServer, qA)),
			counts: map[string]uint64{"query A udp ipv6": 1}},
		{name: "query/tcp/ipv4", egress: true, frame: inIPv4(overTCP(toServer, qA)),
			counts: map[string]uint64{"query A tcp ipv4": 1}},
		{name: "query/tcp/ipv6", egress: true, frame: inIPv6(overTCP(toServer, qA)),
			counts: map[string]uint64{"query A tcp ipv6": 1}},
		{name: "response/udp/ipv4", frame: inIPv4(overUDP(fromServer, rA)),
			counts: map[string]uint64{"response A NOERROR udp ipv4": 1}},
		{name: "response/udp/ipv6", frame: inIPv6(overUDP(fromServer, rA)),
			counts: map[string]uint64{"response A NOERROR udp ipv6": 1}},
		{name: "response/tcp/ipv4", frame: inIPv4(overTCP(fromServer, rA)),
			counts: map[string]uint64{"response A NOERROR tcp ipv4": 1}},
		{name: "response/tcp/ipv6", frame: inIPv6(overTCP(fromServer, rA)),
			counts: map[string]uint64{"response A NOERROR tcp ipv6": 1}},
		{name: "query/ipv4 with options", egress: true, frame: inIPv4WithOptions(overUDP(toServer, qA)),
			counts: map[string]uint64{"query A udp ipv4": 1}},
		{name: "query/ipv4 first fragment", egress: true, frame: inIPv4Fragment(overUDP(toServer, qA), 0, true),
			counts: map[string]uint64{"query A udp ipv4": 1}},
		{name: "query/ipv6 hop-by-hop", egress: true, frame: inIPv6(overUDP(toServer, qA), hopByHop()),
			counts: map[string]uint64{"query A udp ipv6": 1}},
		{name: "query/ipv6 destination options", egress: true, frame: inIPv6(overUDP(toServer, qA), destOptions()),
			counts: map[string]uint64{"query A udp ipv6": 1}},
		{name: "query/ipv6 routing", egress: true, frame: inIPv6(overUDP(toServer, qA), routing()),
			counts: map[string]uint64{"query A udp ipv6": 1}},
		{name: "query/ipv6 first fragment", egress: true, frame: inIPv6(overUDP(toServer, qA), fragment(0, true)),
			counts: map[string]uint64{"query A udp ipv6": 1}},
		{name: "response/ipv6 hop-by-hop, destination options, first fragment",
			frame:  inIPv6(overTCP(fromServer, rA), hopByHop(), destOptions(), fragment(0, true)),
			counts: map[string]uint64{"response A NOERROR tcp ipv6": 1}},

		// What the message carries beyond the question.
		{name: "query with EDNS0 OPT", egress: true, frame: inIPv4(overUDP(toServer, packMsg(tb, withEDNS0(newQuery(queryID, dns.TypeAAAA, "example.com."))))),
			counts: map[string]uint64{"query AAAA udp ipv4": 1}},
		{name: "response with compressed answers and EDNS0", frame: inIPv6(overUDP(fromServer, compressedResponse(tb))),
			counts: map[string]uint64{"response A NOERROR udp ipv6": 1}},
		// Names that end past the first 128 bytes of the packet, which
		// the programs copy with one read.
		{name: "query with a name of 255 octets/udp/ipv4", egress: true, frame: inIPv4(overUDP(toServer, rawQuery(queryID, nameOctets(255)...))),
			counts: map[string]uint64{"query A udp ipv4": 1}},
		{name: "response with a name of 255 octets/udp/ipv6", frame: inIPv6(overUDP(fromServer, rawMessage(1, 0x8183, 1, nameOctets(255)...))),
			counts: map[string]uint64{"response A NXDOMAIN udp ipv6": 1}},
		{name: "truncated response/udp/ipv4", frame: inIPv4(overUDP(fromServer, packMsg(tb, truncatedResponse(tb, dns.TypeTXT)))),
			counts: map[string]uint64{"response TXT NOERROR udp ipv4": 1, "truncated TXT ipv4": 1}},
		{name: "truncated response/udp/ipv6", frame: inIPv6(overUDP(fromServer, packMsg(tb, truncatedResponse(tb, dns.TypeA)))),
			counts: map[string]uint64{"response A NOERROR udp ipv6": 1, "truncated A ipv6": 1}},

		// Packets that are not a client's DNS: nothing at all.
		{name: "ignored/query to port 80", egress: true, frame: inIPv4(overUDP(flow{clientPort, 80}, qA))},
		{name: "ignored/garbage to port 80", egress: true, frame: inIPv4(overUDP(flow{clientPort, 80}, []byte{1, 2, 3}))},
		{name: "ignored/response from port 80", frame: inIPv6(overUDP(flow{80, clientPort}, rA))},
		{name: "ignored/server receives a query", frame: inIPv4(overUDP(toServer, qA))},
		{name: "ignored/server sends a response", egress: true, frame: inIPv4(overUDP(fromServer, rA))},
		{name: "ignored/server receives a query from port 53", frame: inIPv4(overUDP(flow{serverPort, serverPort}, qA))},
		{name: "ignored/server sends a response to port 53", egress: true, frame: inIPv6(overTCP(flow{serverPort, serverPort}, rA))},
		{name: "ignored/tcp handshake", egress: true, frame: inIPv4(overTCPRaw(toServer, nil))},
		{name: "ignored/tcp length prefix only", egress: true, frame: inIPv4(overTCPRaw(toServer, []byte{0, 29}))},
		{name: "ignored/tcp with a bad label", egress: true, frame: inIPv4(overTCP(toServer, rawQuery(1, 0x40, 'x', 0, 0, 1, 0, 1)))},
		{name: "ignored/ipv4 later fragment", egress: true, frame: inIPv4Fragment(overUDP(toServer, qA), 185, false)},
		{name: "ignored/ipv6 later fragment", egress: true, frame: inIPv6(overUDP(toServer, qA), fragment(185, false))},
		{name: "ignored/ARP", egress: true, frame: ethernet(0x0806, make([]byte, 28))},
	}
	cases = append(cases, qtypeCases(tb)...)
	cases = append(cases, rcodeCases(tb)...)
	return append(cases, malformedCases(tb)...)
}

// qtypeCases: every qtype label value, in a query and in a response.
func qtypeCases(tb testing.TB) []parseCase {
	tb.Helper()
	wire := []struct {
		qtype uint16
		label string
	}{
		{dns.TypeA, "A"}, {dns.TypeAAAA, "AAAA"}, {dns.TypeCNAME, "CNAME"}, {dns.TypeMX, "MX"},
		{dns.TypeNS, "NS"}, {dns.TypePTR, "PTR"}, {dns.TypeSOA, "SOA"}, {dns.TypeSRV, "SRV"},
		{dns.TypeTXT, "TXT"}, {dns.TypeHTTPS, "HTTPS"}, {dns.TypeSVCB, "SVCB"}, {dns.TypeANY, "ANY"},
		{dns.TypeCAA, "other"}, {dns.TypeNone, "other"}, {dns.TypeSPF, "other"},
	}
	var cases []parseCase
	for _, w := range wire {
		name := dns.TypeToString[w.qtype] + " (" + w.label + ")"
		if w.qtype == dns.TypeNone {
			name = "type 0 (other)"
		}
		cases = append(cases,
			parseCase{name: "qtype/query " + name, egress: true,
				frame:  inIPv4(overUDP(toServer, packMsg(tb, newQuery(queryID, w.qtype, "svc.example.")))),
				counts: map[string]uint64{"query " + w.label + " udp ipv4": 1}},
			parseCase{name: "qtype/response " + name,
				frame:  inIPv6(overTCP(fromServer, packMsg(tb, newResponse(tb, 1, w.qtype, "svc.example.", dns.RcodeSuccess)))),
				counts: map[string]uint64{"response " + w.label + " NOERROR tcp ipv6": 1}},
		)
	}
	return cases
}

// rcodeCases: every rcode label value.
func rcodeCases(tb testing.TB) []parseCase {
	tb.Helper()
	wire := []struct {
		rcode int
		label string
	}{
		{dns.RcodeSuccess, "NOERROR"}, {dns.RcodeFormatError, "FORMERR"}, {dns.RcodeServerFailure, "SERVFAIL"},
		{dns.RcodeNameError, "NXDOMAIN"}, {dns.RcodeNotImplemented, "NOTIMP"}, {dns.RcodeRefused, "REFUSED"},
		{dns.RcodeYXDomain, "other"}, {dns.RcodeNotZone, "other"}, {15, "other"},
	}
	var cases []parseCase
	for _, w := range wire {
		cases = append(cases, parseCase{name: fmt.Sprintf("rcode/%d (%s)", w.rcode, w.label),
			frame:  inIPv4(overUDP(fromServer, packMsg(tb, newResponse(tb, 2, dns.TypeAAAA, "svc.example.", w.rcode)))),
			counts: map[string]uint64{"response AAAA " + w.label + " udp ipv4": 1}})
	}
	return cases
}

// malformedCases: each malformed UDP message counts exactly its reason.
func malformedCases(tb testing.TB) []parseCase {
	tb.Helper()
	qA := packMsg(tb, newQuery(queryID, dns.TypeA, "example.com."))
	// foo at offset 12, then what follows it at offset 16.
	foo := []byte{3, 'f', 'o', 'o'}
	cases := []parseCase{
		{name: "truncated header", egress: true, frame: inIPv4(overUDP(toServer, qA[:5])), malformed: "truncated"},
		{name: "empty message", egress: true, frame: inIPv6(overUDP(toServer, nil)), malformed: "truncated"},
		{name: "truncated inside the name", egress: true, frame: inIPv4(overUDP(toServer, rawQuery(1, 3, 'f', 'o'))), malformed: "truncated"},
		{name: "truncated before the terminating label", egress: true, frame: inIPv4(overUDP(toServer, rawQuery(1, foo...))), malformed: "truncated"},
		{name: "truncated inside QTYPE", egress: true, frame: inIPv4(overUDP(toServer, rawQuery(1, append(foo, 0, 0)...))), malformed: "truncated"},
		{name: "pointer cut short", egress: true, frame: inIPv4(overUDP(toServer, rawQuery(1, append(foo, 0xc0)...))), malformed: "compression_loop"},
		{name: "label length 0x40", egress: true, frame: inIPv4(overUDP(toServer, rawQuery(1, 0x40, 'x', 0, 0, 1, 0, 1))), malformed: "bad_label"},
		{name: "label length 0x80", egress: true, frame: inIPv4(overUDP(toServer, rawQuery(1, append(foo, 0x80, 'x', 0, 0, 1, 0, 1)...))), malformed: "bad_label"},
		{name: "label length 0xBF", egress: true, frame: inIPv4(overUDP(toServer, rawQuery(1, 0xbf, 'x', 0, 0, 1, 0, 1))), malformed: "bad_label"},
		{name: "pointer forward", egress: true, frame: inIPv4(overUDP(toServer, rawQuery(1, append(foo, 0xc0, 20, 0, 0, 1, 0, 1)...))), malformed: "compression_loop"},
		{name: "pointer to itself", egress: true, frame: inIPv4(overUDP(toServer, rawQuery(1, append(foo, 0xc0, 16, 0, 1, 0, 1)...))), malformed: "compression_loop"},
		{name: "pointer into the header", egress: true, frame: inIPv4(overUDP(toServer, rawQuery(1, 0xc0, 4, 0, 1, 0, 1))), malformed: "compression_loop"},
		{name: "pointer back to the start of its own name", egress: true, frame: inIPv4(overUDP(toServer, rawQuery(1, append(foo, 0xc0, 12, 0, 1, 0, 1)...))), malformed: "compression_loop"},
		{name: "pointer back into its own name", egress: true, frame: inIPv4(overUDP(toServer, rawQuery(1, append(append(foo, foo...), 0xc0, 16, 0, 1, 0, 1)...))), malformed: "compression_loop"},
		{name: "name of 256 octets", egress: true, frame: inIPv4(overUDP(toServer, rawQuery(1, nameOctets(256)...))), malformed: "name_too_long"},
		{name: "name of 400 octets", egress: true, frame: inIPv4(overUDP(toServer, rawQuery(1, nameOctets(400)...))), malformed: "name_too_long"},
		{name: "no question", egress: true, frame: inIPv4(overUDP(toServer, rawMessage(1, 0x0100, 0))), malformed: "no_question"},
		// Past the first 128 bytes, which the programs copy with one
		// read: the name is walked again from the packet.
		{name: "truncated past the window", egress: true, frame: inIPv4(overUDP(toServer, rawQuery(1, pastWindow(30, 'x')...))), malformed: "truncated"},
		{name: "label length 0x40 past the window", egress: true, frame: inIPv4(overUDP(toServer, rawQuery(1, pastWindow(0x40, 'x', 0, 0, 1, 0, 1)...))), malformed: "bad_label"},
		{name: "pointer past the window", frame: inIPv6(overUDP(fromServer, rawMessage(1, 0x8180, 1, pastWindow(0xc0, 12, 0, 1, 0, 1)...))), malformed: "compression_loop"},
		{name: "response with no question", frame: inIPv6(overUDP(fromServer, rawMessage(1, 0x8183, 0))), malformed: "no_question"},
		{name: "response with a bad label", frame: inIPv6(overUDP(fromServer, rawMessage(1, 0x8180, 1, 0x7f, 'x', 0, 0, 1, 0, 1))), malformed: "bad_label"},
	}
	for i := range cases {
		cases[i].name = "malformed/" + cases[i].name
	}
	return append(cases,
		parseCase{name: "malformed/not: name of 255 octets", egress: true,
			frame: inIPv4(overUDP(toServer, rawQuery(queryID, nameOctets(255)...))), counts: map[string]uint64{"query A udp ipv4": 1}})
}

// newQuery is a recursive query for name.
func newQuery(id, qtype uint16, name string) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Id = id
	return m
}

// newResponse answers newQuery(id, qtype, name) with rcode.
func newResponse(tb testing.TB, id, qtype uint16, name string, rcode int) *dns.Msg {
	tb.Helper()
	r := new(dns.Msg)
	r.SetRcode(newQuery(id, qtype, name), rcode)
	if r.Rcode != rcode {
		tb.Fatalf("rcode %d does not fit a header", rcode)
	}
	return r
}

// truncatedResponse is a NOERROR response with the TC bit set.
func truncatedResponse(tb testing.TB, qtype uint16) *dns.Msg {
	tb.Helper()
	r := newResponse(tb, 3, qtype, "big.example.", dns.RcodeSuccess)
	r.Truncated = true
	return r
}

func withEDNS0(m *dns.Msg) *dns.Msg {
	m.SetEdns0(1232, true)
	return m
}

// compressedResponse answers an A query with two records whose names are
// compression pointers to the question, and an OPT record.
func compressedResponse(tb testing.TB) []byte {
	tb.Helper()
	r := newResponse(tb, 4, dns.TypeA, "www.example.com.", dns.RcodeSuccess)
	for _, rr := range []string{"www.example.com. 60 IN A 192.0.2.1", "www.example.com. 60 IN A 192.0.2.2"} {
		a, err := dns.NewRR(rr)
		if err != nil {
			tb.Fatal(err)
		}
		r.Answer = append(r.Answer, a)
	}
	withEDNS0(r)
	r.Compress = true
	b := packMsg(tb, r)
	if bytes.Count(b, []byte{0xc0, 12}) != 2 {
		tb.Fatalf("answers are not compressed: % x", b)
	}
	return b
}

func packMsg(tb testing.TB, m *dns.Msg) []byte {
	tb.Helper()
	b, err := m.Pack()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// rawMessage is a DNS header with flags and qdcount, followed by body.
func rawMessage(id, flags, qdcount uint16, body ...byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, qdcount)
	return append(append(b, 0, 0, 0, 0, 0, 0), body...)
}

// rawQuery is a query header (RD set, one question) followed by question.
func rawQuery(id uint16, question ...byte) []byte {
	return rawMessage(id, 0x0100, 1, question...)
}

// pastWindow is 104 octets of labels, then tail: in IPv4 and IPv6, what
// follows lies past the first 128 bytes of the packet.
func pastWindow(tail ...byte) []byte {
	b := append([]byte{63}, bytes.Repeat([]byte{'a'}, 63)...)
	b = append(b, 39)
	b = append(b, bytes.Repeat([]byte{'a'}, 39)...)
	return append(b, tail...)
}

// nameOctets is a question name of n octets in wire format (labels of at
// most 63, the terminating zero included), then QTYPE A and QCLASS IN.
func nameOctets(n int) []byte {
	var b []byte
	for left := n - 1; left > 0; {
		l := min(63, left-1)
		b = append(b, byte(l))
		b = append(b, bytes.Repeat([]byte{'a'}, l)...)
		left -= l + 1
	}
	return append(b, 0, 0, 1, 0, 1)
}

// wireID is a DNS id as dns_pending holds it: the two bytes of the wire,
// in network byte order, read as a host-order __u16.
func wireID(id uint16) uint16 {
	return binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, id))
}

// segment is a transport segment: its IP protocol number and bytes.
type segment struct {
	proto uint8
	b     []byte
}

func overUDP(f flow, msg []byte) segment {
	b := binary.BigEndian.AppendUint16(nil, f.src)
	b = binary.BigEndian.AppendUint16(b, f.dst)
	b = binary.BigEndian.AppendUint16(b, uint16(8+len(msg)))
	b = append(b, 0, 0) // no checksum
	return segment{unix.IPPROTO_UDP, append(b, msg...)}
}

// overTCP is a segment carrying one DNS message with its 2-byte length prefix,
// after 12 bytes of options (data offset 8).
func overTCP(f flow, msg []byte) segment {
	return overTCPRaw(f, append(binary.BigEndian.AppendUint16(nil, uint16(len(msg))), msg...))
}

// overTCPRaw is a PSH/ACK segment with payload (nil: a bare ACK).
func overTCPRaw(f flow, payload []byte) segment {
	b := binary.BigEndian.AppendUint16(nil, f.src)
	b = binary.BigEndian.AppendUint16(b, f.dst)
	b = append(b, 0, 0, 0, 1, 0, 0, 0, 1)              // sequence and acknowledgment numbers
	b = append(b, 8<<4, 0x18, 0xff, 0xff)              // data offset 8 words, PSH|ACK, window
	b = append(b, 0, 0, 0, 0)                          // checksum, urgent pointer
	b = append(b, 1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0) // NOP, NOP, timestamps
	return segment{unix.IPPROTO_TCP, append(b, payload...)}
}

// ethernet is the frame BPF_PROG_TEST_RUN takes: addresses, EtherType, packet.
func ethernet(etherType uint16, packet []byte) []byte {
	b := make([]byte, 12, 14+len(packet))
	b = binary.BigEndian.AppendUint16(b, etherType)
	return append(b, packet...)
}

// inIPv4 is an IPv4 frame from 192.0.2.1 to 192.0.2.53.
func inIPv4(s segment) []byte { return ipv4Frame(s, nil, 0) }

// inIPv4WithOptions has a 24-byte header (IHL 6): NOP, NOP, NOP, end.
func inIPv4WithOptions(s segment) []byte { return ipv4Frame(s, []byte{1, 1, 1, 0}, 0) }

// inIPv4Fragment is a fragment at offset (8-byte units), more fragments or not.
func inIPv4Fragment(s segment, offset uint16, more bool) []byte {
	if more {
		offset |= 0x2000
	}
	return ipv4Frame(s, nil, offset)
}

func ipv4Frame(s segment, options []byte, fragField uint16) []byte {
	b := []byte{byte(0x40 | (20+len(options))/4), 0}
	b = binary.BigEndian.AppendUint16(b, uint16(20+len(options)+len(s.b)))
	b = append(b, 0, 1)
	b = binary.BigEndian.AppendUint16(b, fragField)
	b = append(b, 64, s.proto, 0, 0, 192, 0, 2, 1, 192, 0, 2, 53)
	b = append(b, options...)
	return ethernet(unix.ETH_P_IP, append(b, s.b...))
}

// ext6 is an IPv6 extension header: its protocol number and its bytes after
// the next-header field.
type ext6 struct {
	proto uint8
	b     []byte
}

// padN6 is the 8-byte hop-by-hop or destination options header's rest:
// length 0 and a PadN option of 4 bytes.
var padN6 = []byte{0, 1, 4, 0, 0, 0, 0}

func hopByHop() ext6    { return ext6{unix.IPPROTO_HOPOPTS, padN6} }
func destOptions() ext6 { return ext6{unix.IPPROTO_DSTOPTS, padN6} }

// routing is a 24-byte type 0 header (length 2) with no segments left.
func routing() ext6 {
	return ext6{unix.IPPROTO_ROUTING, append([]byte{2, 0, 0, 0, 0, 0, 0}, make([]byte, 16)...)}
}

// fragment is a fragment header at offset (8-byte units).
func fragment(offset uint16, more bool) ext6 {
	f := offset << 3
	if more {
		f |= 1
	}
	return ext6{unix.IPPROTO_FRAGMENT, append(binary.BigEndian.AppendUint16([]byte{0}, f), 0, 0, 0, 9)}
}

// inIPv6 is an IPv6 frame from 2001:db8::1 to 2001:db8::53 through exts.
func inIPv6(s segment, exts ...ext6) []byte {
	var chain []byte
	next := s.proto
	for i := len(exts) - 1; i >= 0; i-- {
		chain = append(append([]byte{next}, exts[i].b...), chain...)
		next = exts[i].proto
	}
	payload := append(chain, s.b...)
	b := []byte{0x60, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
	b = append(b, next, 64)
	b = append(b, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)
	b = append(b, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53)
	return ethernet(unix.ETH_P_IPV6, append(b, payload...))
}

// TestParserResponseMatchesItsQuery checks the correlation of a response
// with its query by socket cookie and DNS id: a match is one dns_latency
// sample under the query's labels and the pending row is gone; another id
// leaves the query pending.
//
// Under a test run the response's socket is not the query's: its cookie is
// the next one the kernel hands out. The test moves the pending query to
// that cookie, as if the same socket had sent it, and checks afterwards,
// with a probe query that takes the cookie after it, that nothing else took
// a cookie in between; when something did, it tries again.
func TestParserResponseMatchesItsQuery(t *testing.T) {
	for _, tc := range []struct {
		name       string
		responseID uint16
		matches    bool
	}{
		{"same id", queryID, true},
		{"other id", queryID + 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := inIPv6(overUDP(toServer, packMsg(t, newQuery(queryID, dns.TypeAAAA, "example.com."))))
			r := inIPv6(overUDP(fromServer, packMsg(t, newResponse(t, tc.responseID, dns.TypeAAAA, "example.com.", dns.RcodeSuccess))))
			p, elapsed := correlate(t, loadParser, q, 1, r)

			if got, want := p.counts(t), map[string]uint64{"query AAAA udp ipv6": 2, "response AAAA NOERROR udp ipv6": 1}; !maps.Equal(got, want) {
				t.Errorf("dns_counts = %v, want %v (the query, the probe and the response)", got, want)
			}
			pendingQueries := 1 // the probe's
			if !tc.matches {
				pendingQueries++
			}
			if got := p.pending(t); len(got) != pendingQueries {
				t.Errorf("dns_pending has %d rows, want %d: %v", len(got), pendingQueries, got)
			}
			latency := p.latency(t)
			if !tc.matches {
				if len(latency) != 0 {
					t.Errorf("dns_latency = %v, want no rows", latency)
				}
				return
			}
			rows := latency["AAAA udp ipv6"]
			if len(latency) != 1 || len(rows) != 1 {
				t.Fatalf("dns_latency = %v, want one row under AAAA udp ipv6", latency)
			}
			v := rows[0].value
			if v.Count != 1 || v.Sum == 0 || time.Duration(v.Sum) > elapsed {
				t.Errorf("latency sample count %d sum %dns, want 1 sample in (0, %s]", v.Count, v.Sum, elapsed)
			}
			if want := histogram.BucketOfNanos(v.Sum); rows[0].bucket != want {
				t.Errorf("latency bucket %d, want %d for %dns", rows[0].bucket, want, v.Sum)
			}
			p.requireNothingLost(t)
		})
	}
}

// correlate loads a parser with load, runs query q repeat times on one
// socket, moves its pending row to the cookie that the next run's socket
// gets, runs response r and then a probe query, and returns the parser
// once the probe shows that r got that cookie, with the time from before
// q to after r.
func correlate(t *testing.T, load func(testing.TB) *parser, q []byte, repeat uint32, r []byte) (*parser, time.Duration) {
	t.Helper()
	probe := inIPv6(overUDP(toServer, packMsg(t, newQuery(probeID, dns.TypeAAAA, "example.com."))))
	for attempt := 0; attempt < 10; attempt++ {
		p := load(t)
		start := time.Now()
		if ret, err := p.objs.DnsEgress.Run(&ebpf.RunOptions{Data: q, Repeat: repeat}); err != nil || ret != 1 {
			t.Fatalf("running the query: %d, %v", ret, err)
		}
		pending := p.pending(t)
		if len(pending) != 1 {
			t.Fatalf("dns_pending has %d rows after a query, want 1", len(pending))
		}
		var key dnsPendingKey
		var val dnsPendingQuery
		for key, val = range pending {
			break
		}
		if err := p.objs.DnsPending.Delete(key); err != nil {
			t.Fatal(err)
		}
		key.Cookie++
		if err := p.objs.DnsPending.Put(key, val); err != nil {
			t.Fatal(err)
		}
		p.run(t, p.objs.DnsIngress, r)
		elapsed := time.Since(start)
		p.run(t, p.objs.DnsEgress, probe)
		for k := range p.pending(t) {
			if k.Id == wireID(probeID) && k.Cookie == key.Cookie+1 {
				return p, elapsed
			}
		}
		t.Logf("attempt %d: another socket took a cookie between the runs", attempt)
	}
	t.Fatal("another socket took a cookie between the runs 10 times")
	return nil, 0
}

// TestParserQueryIDReusedBeforeItsResponse sends a query three times with
// one id on one socket, then the response: the first two are superseded,
// each counted once, and the response is the third's latency sample. At
// the default share the second and third queries find their id taken when
// they insert; at a share of one the workload is at its limit, and each
// supersedes the query before it first, which frees the row it takes.
func TestParserQueryIDReusedBeforeItsResponse(t *testing.T) {
	for _, tc := range []struct {
		name        string
		perWorkload uint32
	}{
		{"under the limit", 0},
		{"at the limit", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := inIPv6(overUDP(toServer, packMsg(t, newQuery(queryID, dns.TypeAAAA, "example.com."))))
			r := inIPv6(overUDP(fromServer, packMsg(t, newResponse(t, queryID, dns.TypeAAAA, "example.com.", dns.RcodeSuccess))))
			load := func(tb testing.TB) *parser { return loadParserWith(tb, tc.perWorkload) }
			p, _ := correlate(t, load, q, 3, r)

			want := map[string]uint64{
				"query AAAA udp ipv6":            4, // three and the probe
				"superseded AAAA udp ipv6":       2,
				"response AAAA NOERROR udp ipv6": 1,
			}
			if got := p.counts(t); !maps.Equal(got, want) {
				t.Errorf("dns_counts = %v, want %v", got, want)
			}
			if rows := p.latency(t)["AAAA udp ipv6"]; len(rows) != 1 || rows[0].value.Count != 1 {
				t.Errorf("dns_latency = %v, want one sample under AAAA udp ipv6", p.latency(t))
			}
			if got := p.pending(t); len(got) != 1 {
				t.Errorf("dns_pending has %d rows, want the probe's: %v", len(got), got)
			}
			var f dnsInflight
			if err := p.objs.DnsInflight.Lookup(p.cgroup, &f); err != nil {
				t.Fatal(err)
			}
			if f.Started != 4 || f.Finished != 3 {
				t.Errorf("dns_inflight started %d finished %d, want 4 and 3 (the probe pending)", f.Started, f.Finished)
			}
			p.requireNothingLost(t)
		})
	}
}

// TestParserTestRunSockets pins down what the tests above rely on: each
// run has a socket of its own with a new cookie, the repetitions of one run
// share it, and its cgroup is the test process's.
func TestParserTestRunSockets(t *testing.T) {
	p := loadParser(t)
	q := inIPv4(overUDP(toServer, packMsg(t, newQuery(9, dns.TypeA, "example.com."))))
	p.run(t, p.objs.DnsEgress, q)
	p.run(t, p.objs.DnsEgress, q)
	if _, err := p.objs.DnsEgress.Run(&ebpf.RunOptions{Data: q, Repeat: 5}); err != nil {
		t.Fatal(err)
	}
	if got := p.counts(t); got["query A udp ipv4"] != 7 {
		t.Errorf("dns_counts = %v, want 7 A queries", got)
	}
	if got := p.pending(t); len(got) != 3 {
		t.Errorf("dns_pending has %d rows, want 3 (one per socket, same id): %v", len(got), got)
	}
}
