package collector

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/bpfload"
	"github.com/bpfleet/bpfleet/internal/exporter"
	bpfmaps "github.com/bpfleet/bpfleet/internal/maps"
	"github.com/bpfleet/bpfleet/internal/selfmetrics"
	"github.com/bpfleet/bpfleet/internal/testenv"
	"github.com/bpfleet/bpfleet/internal/workload"
)

// BenchmarkParserRun measures the in-kernel cost of one packet with
// BPF_PROG_TEST_RUN against a cgroup_skb program that only returns 1.
//
// The cases other than pair repeat one packet b.N times on one socket:
// kernel-ns/run is the kernel's average per run (net/bpf/test_run.c),
// program and test-run loop together. query-superseding sends one id on
// one socket again and again, so every run after the first supersedes the
// query before it (a client's retry, not a query's usual cost); response
// finds no pending query after the first run, so it measures the parse
// and counter update of a response, not the latency sample.
//
// pair is what a query and its response cost: each iteration runs a query
// (ids vary, as a client's do) and then its response, and the response
// finds the query pending, takes its row and records its latency. Each
// test run has a socket of its own (TestParserTestRunSockets), so between
// the two the benchmark moves the query's pending row to the cookie that
// the response's socket gets next, as correlate does; an iteration whose
// response missed it (another socket took that cookie) is left out and
// counted in missed. The runs are single (repeat 1), so each reported
// time holds the test-run timer's own cost once: kernel-ns/empty is the
// empty program run the same way in every iteration, the baseline to
// subtract.
func BenchmarkParserRun(b *testing.B) {
	p := loadParser(b)
	empty := emptyCgroupSKB(b)
	q := inIPv4(overUDP(toServer, packMsg(b, newQuery(queryID, dns.TypeA, "www.example.com."))))
	r := inIPv4(overUDP(fromServer, compressedResponse(b)))
	for _, bc := range []struct {
		name  string
		prog  *ebpf.Program
		frame []byte
	}{
		{"empty", empty, q},
		{"query-superseding", p.objs.DnsEgress, q},
		{"response", p.objs.DnsIngress, r},
		{"not-dns", p.objs.DnsEgress, inIPv4(overUDP(flow{clientPort, 443}, []byte("not dns")))},
	} {
		b.Run(bc.name, func(b *testing.B) {
			ret, perRun, err := bc.prog.Benchmark(bc.frame, b.N, b.ResetTimer)
			if err != nil {
				b.Fatal(err)
			}
			if ret != 1 {
				b.Fatalf("returned %d, want 1", ret)
			}
			b.ReportMetric(float64(perRun.Nanoseconds()), "kernel-ns/run")
		})
	}
	b.Run("pair", func(b *testing.B) { benchmarkPair(b, loadParser(b), empty) })
}

// pairIDs is how many DNS ids the pair benchmark cycles through.
const pairIDs = 256

// benchmarkPair is BenchmarkParserRun's pair case.
func benchmarkPair(b *testing.B, p *parser, empty *ebpf.Program) {
	var queries, responses [pairIDs][]byte
	for id := range pairIDs {
		queries[id] = inIPv4(overUDP(toServer, packMsg(b, newQuery(uint16(id), dns.TypeA, "www.example.com."))))
		msg := compressedResponse(b)
		binary.BigEndian.PutUint16(msg, uint16(id))
		responses[id] = inIPv4(overUDP(fromServer, msg))
	}
	runOnce := func(prog *ebpf.Program, frame []byte) time.Duration {
		ret, d, err := prog.Benchmark(frame, 1, nil)
		if err != nil {
			b.Fatal(err)
		}
		if ret != 1 {
			b.Fatalf("%s returned %d, want 1", prog, ret)
		}
		return d
	}
	var query, response, base time.Duration
	matched, missed := 0, 0
	for i := range b.N {
		id := i % pairIDs
		dq := runOnce(p.objs.DnsEgress, queries[id])
		var key dnsPendingKey
		var row dnsPendingQuery
		if err := p.objs.DnsPending.NextKey(nil, &key); err != nil {
			b.Fatalf("no pending query after query %d: %v", i, err)
		}
		if err := p.objs.DnsPending.Lookup(key, &row); err != nil {
			b.Fatal(err)
		}
		if err := p.objs.DnsPending.Delete(key); err != nil {
			b.Fatal(err)
		}
		key.Cookie++
		if err := p.objs.DnsPending.Put(key, row); err != nil {
			b.Fatal(err)
		}
		dr := runOnce(p.objs.DnsIngress, responses[id])
		de := runOnce(empty, queries[id])
		if err := p.objs.DnsPending.Delete(key); err == nil {
			missed++ // the response's socket had another cookie
			continue
		} else if !errors.Is(err, ebpf.ErrKeyNotExist) {
			b.Fatal(err)
		}
		matched++
		query += dq
		response += dr
		base += de
	}
	if matched == 0 {
		b.Fatalf("no response of %d found its query", b.N)
	}
	latency, _, err := bpfmaps.ReadHistogramsFolded(p.objs.DnsLatency, p.objs.DnsLatencyOverflow)
	if err != nil {
		b.Fatal(err)
	}
	var samples uint64
	for _, v := range latency {
		samples += v.Count
	}
	if samples != uint64(matched) {
		b.Fatalf("%d latency samples, want one per response that found its query (%d)", samples, matched)
	}
	p.requireNothingLost(b)
	n := float64(matched)
	b.ReportMetric(float64(query.Nanoseconds())/n, "kernel-ns/query")
	b.ReportMetric(float64(response.Nanoseconds())/n, "kernel-ns/response")
	b.ReportMetric(float64(base.Nanoseconds())/n, "kernel-ns/empty")
	b.ReportMetric(float64(missed), "missed")
}

// emptyCgroupSKB is a cgroup_skb program that lets every packet pass.
func emptyCgroupSKB(tb testing.TB) *ebpf.Program {
	tb.Helper()
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         "empty_skb",
		Type:         ebpf.CGroupSKB,
		Instructions: asm.Instructions{asm.Mov.Imm(asm.R0, 1), asm.Return()},
		License:      "GPL",
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { prog.Close() })
	return prog
}

// dnsperf benchmark settings: a local unbound on benchPort serving
// benchZone, and dnsperf at its maximum rate for benchDuration per round.
const (
	benchPort     = 5353
	benchZone     = "bench.test."
	benchDuration = 5 * time.Second
)

// benchOrder is the order of the rounds (attached or not), symmetric so
// that a linear drift of the machine's speed cancels out.
var benchOrder = []bool{false, true, true, false, false, true, true, false}

// BenchmarkDNSPerf runs dnsperf at its maximum rate against a local unbound
// with the dns collector attached and not, in alternating rounds of one
// run, and reports queries per second of each and their ratio. In every
// attached round dns_queries_total must equal the queries dnsperf sent and
// nothing may be lost. It installs dnsperf and unbound from apt when they
// are missing. Run it with -benchtime 1x: one iteration is all the rounds.
func BenchmarkDNSPerf(b *testing.B) {
	testenv.RequireRoot(b)
	requireCommand(b, "dnsperf", "dnsperf")
	requireCommand(b, "unbound", "unbound")
	dir := b.TempDir()
	startUnbound(b, dir)
	queries := filepath.Join(dir, "queries")
	if err := os.WriteFile(queries, []byte("a."+benchZone+" A\naaaa."+benchZone+" AAAA\nmissing."+benchZone+" A\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	env, reg := benchEnv(b)
	var qps [2][]float64
	for range b.N {
		for i, attached := range benchOrder {
			r := benchRound(b, env, reg, queries, attached)
			b.Logf("round %d attached=%t: %.0f qps, sent %d, lost %d, dns_queries_total %d, events lost %d",
				i, attached, r.qps, r.sent, r.lostQueries, r.counted, r.eventsLost)
			qps[b2i(attached)] = append(qps[b2i(attached)], r.qps)
		}
	}
	off, on := mean(qps[0]), mean(qps[1])
	b.ReportMetric(off, "qps-detached")
	b.ReportMetric(on, "qps-attached")
	b.ReportMetric(on/off, "ratio")
}

// benchResult is one dnsperf round.
type benchResult struct {
	qps         float64
	sent        uint64
	lostQueries uint64 // dnsperf's queries without a response
	counted     uint64 // dns_queries_total (attached rounds)
	eventsLost  uint64 // lost_events and dns_exporter_events_lost_total (attached rounds)
}

// benchRound runs dnsperf once, with a new collector attached or none.
func benchRound(b *testing.B, env exporter.Env, reg *prometheus.Registry, queries string, attached bool) benchResult {
	b.Helper()
	var c *Collector
	if attached {
		var err error
		c, err = New(context.Background(), env, Options{Ports: []uint16{benchPort}, Timeout: 5 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
	}
	r := runDNSPerf(b, queries)
	if !attached {
		return r
	}
	r.counted = scrapeQueries(b, c)
	lost, err := bpfmaps.ReadLost(c.objs.LostEvents)
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range lost {
		r.eventsLost += n
	}
	r.eventsLost += gatherLost(b, reg)
	if r.counted != r.sent {
		b.Errorf("dns_queries_total %d, want the %d queries dnsperf sent", r.counted, r.sent)
	}
	if r.eventsLost != 0 {
		b.Errorf("%d events lost", r.eventsLost)
	}
	return r
}

// runDNSPerf runs dnsperf at its maximum rate for benchDuration.
func runDNSPerf(b *testing.B, queries string) benchResult {
	b.Helper()
	out, err := exec.Command("dnsperf", "-s", "127.0.0.1", "-p", strconv.Itoa(benchPort), "-d", queries,
		"-l", strconv.Itoa(int(benchDuration.Seconds())), "-c", "2", "-T", "2", "-q", "200").CombinedOutput()
	if err != nil {
		b.Fatalf("dnsperf: %v\n%s", err, out)
	}
	var r benchResult
	r.sent = uint64(dnsperfField(b, out, "Queries sent"))
	r.lostQueries = uint64(dnsperfField(b, out, "Queries lost"))
	r.qps = dnsperfField(b, out, "Queries per second")
	return r
}

// dnsperfField reads "  <name>:   <number>" from dnsperf's statistics.
func dnsperfField(b *testing.B, out []byte, name string) float64 {
	b.Helper()
	m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(name) + `:\s+([0-9.]+)`).FindSubmatch(out)
	if m == nil {
		b.Fatalf("no %q in dnsperf output:\n%s", name, out)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// scrapeQueries runs one Update and sums dns_queries_total.
func scrapeQueries(b *testing.B, c *Collector) uint64 {
	b.Helper()
	ch := make(chan prometheus.Metric, 1024)
	errc := make(chan error, 1)
	go func() {
		errc <- c.Update(context.Background(), ch)
		close(ch)
	}()
	var total float64
	for m := range ch {
		if !strings.Contains(m.Desc().String(), `"dns_queries_total"`) {
			continue
		}
		var pb dto.Metric
		if err := m.Write(&pb); err != nil {
			b.Fatal(err)
		}
		total += pb.GetCounter().GetValue()
	}
	if err := <-errc; err != nil {
		b.Fatalf("Update: %v", err)
	}
	return uint64(total)
}

// gatherLost sums dns_exporter_events_lost_total{collector="dns"} over reasons.
func gatherLost(b *testing.B, reg *prometheus.Registry) uint64 {
	b.Helper()
	families, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, f := range families {
		if f.GetName() != "dns_exporter_events_lost_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "collector" && l.GetValue() == "dns" {
					total += m.GetCounter().GetValue()
				}
			}
		}
	}
	return uint64(total)
}

// benchEnv is the Env the exporter gives the collector, and the registry
// of its self-metrics.
func benchEnv(b *testing.B) (exporter.Env, *prometheus.Registry) {
	b.Helper()
	reg := prometheus.NewRegistry()
	self, err := selfmetrics.New(namespace+"_exporter", reg)
	if err != nil {
		b.Fatal(err)
	}
	loader, err := bpfload.NewLoader(self)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { loader.Close() })
	resolver, err := workload.NewResolver(workload.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { resolver.Close() })
	return exporter.Env{
		Name:      "dns",
		Logger:    slog.New(slog.NewTextHandler(io.Discard, nil)),
		Namespace: namespace,
		Self:      self,
	}.WithComponents(map[string]any{bpfload.ComponentName: loader, workload.ComponentName: resolver}), reg
}

// requireCommand installs Debian package pkg when cmd is missing, and skips
// the benchmark when that fails.
func requireCommand(b *testing.B, cmd, pkg string) {
	b.Helper()
	if _, err := exec.LookPath(cmd); err == nil {
		return
	}
	install := exec.Command("sh", "-c", "apt-get update -q && apt-get install -y -q --no-install-recommends "+pkg)
	install.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := install.CombinedOutput(); err != nil {
		b.Skipf("needs %s (apt package %s), and installing it failed: %v\n%s", cmd, pkg, err, out)
	}
}

// startUnbound runs unbound in the foreground on 127.0.0.1:benchPort with
// benchZone as a static local zone (no recursion), until the benchmark
// ends.
func startUnbound(b *testing.B, dir string) {
	b.Helper()
	conf := filepath.Join(dir, "unbound.conf")
	config := fmt.Sprintf(`server:
	interface: 127.0.0.1
	port: %d
	do-ip6: no
	do-daemonize: no
	chroot: ""
	username: ""
	directory: %q
	pidfile: ""
	use-syslog: no
	logfile: ""
	verbosity: 0
	num-threads: 2
	module-config: "iterator"
	access-control: 127.0.0.0/8 allow
	local-zone: %q static
	local-data: "a.%s 3600 IN A 192.0.2.1"
	local-data: "aaaa.%s 3600 IN AAAA 2001:db8::1"
remote-control:
	control-enable: no
`, benchPort, dir, benchZone, benchZone, benchZone)
	if err := os.WriteFile(conf, []byte(config), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("unbound", "-d", "-c", conf)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	m := newQuery(1, dns.TypeA, "a."+benchZone)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r, err := dns.Exchange(m, fmt.Sprintf("127.0.0.1:%d", benchPort))
		if err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1 {
			return
		}
		if time.Now().After(deadline) {
			b.Fatalf("unbound not answering after 10s: %v", err)
		}
	}
}

func b2i(v bool) int {
	if v {
		return 1
	}
	return 0
}

func mean(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}
