package collector

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/bpfleet/bpfleet/internal/collectortest"
	"github.com/bpfleet/bpfleet/internal/exporter"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// Settings of BenchmarkDNSFullRate.
const (
	fullRateRounds   = 10 // alternately without and with the collector, without first; then one with statistics
	fullRateDuration = 5 * time.Second
	fullRateClients  = 4 // dnsperf -c: sockets
	fullRateThreads  = 2 // dnsperf -T
	// fullRateOutstanding is dnsperf -q, the queries in flight at once:
	// well under a workload's share of the pending table (4,096), so that
	// every query is followed to its response.
	fullRateOutstanding = 200
	fullRateTimeout     = time.Second // --collector.dns.timeout
	fullRateTries       = 3           // runs of a round while others' socket programs are in effect
	fullRateZone        = "bench.test."
	fullRateHosts       = 16 // names with an A and an AAAA record
	fullRateMissing     = 8  // names without records: NXDOMAIN
)

// BenchmarkDNSFullRate runs dnsperf at its maximum rate, in a network
// namespace and cgroup of its own, against unbound serving a local zone in
// another namespace over a veth pair, in alternating rounds without and with
// the dns collector (run as the exporter runs it, with its reaper and the
// cgroup watcher), then once more with the collector and the kernel's BPF
// run-time statistics on, which measure its programs' cost per query. A
// last sub-benchmark, summary, reports the median queries per second
// without and with the collector (the statistics round aside) and their
// ratio. In every round with the collector, dnsperf's workload must be
// accounted exactly: dns_queries_total equals the queries dnsperf sent,
// dns_responses_total (per rcode too) and the latency samples equal the
// responses it received, dns_queries_unanswered_total equals the queries it
// lost, nothing is untracked, no event is lost, and unbound's cgroup has no
// series. It needs root, dnsperf and unbound (apt-get install -y dnsperf
// unbound); each round is a sub-benchmark of one iteration.
func BenchmarkDNSFullRate(b *testing.B) {
	testenv.RequireRoot(b)
	for _, cmd := range []string{"dnsperf", "unbound"} {
		if _, err := exec.LookPath(cmd); err != nil {
			b.Skipf("needs dnsperf and unbound (apt-get install -y dnsperf unbound): %v", err)
		}
	}
	s, c := testenv.NewNetns(b), testenv.NewNetns(b)
	_, es := testenv.NewVeth(b, c, s)
	e := fullRateEnv{
		clientNetns: c,
		server:      testenv.NewCgroup(b),
		addr:        netip.AddrPortFrom(es.IPv4.Addr(), 53),
		queries:     writeFullRateQueries(b),
	}
	startNetnsUnbound(b, e.server, s, e.addr)
	var rounds []fullRateRound
	for i := range fullRateRounds + 1 {
		m := fullRateMode(i % 2)
		if i == fullRateRounds {
			m = fullRateOnStats
		}
		// A round during which another test's socket programs were in
		// effect (a collector of its own on the host's cgroup root) is
		// run again, as a sub-benchmark of the same name (#01, #02).
		var r fullRateRound
		for try := 1; try == 1 || (r.foreign > 0 && try <= fullRateTries); try++ {
			if !b.Run(fmt.Sprintf("round=%d/exporter=%s", i, m), func(b *testing.B) { r = e.reportRound(b, m) }) {
				return
			}
		}
		rounds = append(rounds, r)
	}
	b.Run("summary", func(b *testing.B) { reportFullRateSummary(b, rounds) })
}

// reportRound runs a round and reports it.
func (e fullRateEnv) reportRound(b *testing.B, m fullRateMode) fullRateRound {
	r := e.round(b, m)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(r.qps, "qps")
	b.ReportMetric(float64(r.sent), "queries")
	b.ReportMetric(float64(r.workloadCPU.Nanoseconds())/float64(r.completed), "workload-cpu-ns/query")
	b.ReportMetric(float64(r.processCPU.Microseconds())/1000, "exporter-cpu-ms")
	if m == fullRateOnStats {
		b.ReportMetric(float64(r.bpfRuntime[0].Nanoseconds()+r.bpfRuntime[1].Nanoseconds())/float64(r.completed), "bpf-ns/query")
		b.ReportMetric(float64(r.bpfRuns[0]+r.bpfRuns[1])/float64(r.completed), "bpf-runs/query")
	}
	b.Logf("%s", r)
	return r
}

// fullRateMode is a round's configuration.
type fullRateMode int

const (
	fullRateOff     fullRateMode = iota // no collector
	fullRateOn                          // the collector, as the exporter runs it
	fullRateOnStats                     // and the kernel's BPF run-time statistics on
)

func (m fullRateMode) String() string {
	return [...]string{"off", "on", "on+bpf-stats"}[m]
}

// fullRateEnv is the setup shared by the rounds.
type fullRateEnv struct {
	clientNetns *testenv.Netns
	server      *testenv.Cgroup // unbound's
	addr        netip.AddrPort  // unbound's, on the veth
	queries     string          // dnsperf's query file
}

// fullRateRound is one dnsperf run and, with the collector, what it counted
// of the run's workload.
type fullRateRound struct {
	mode                     fullRateMode
	qps                      float64
	sent, completed, lost    uint64
	rcodes                   map[string]uint64 // dnsperf's responses by rcode
	processCPU, workloadCPU  time.Duration     // this process's (the collector's); dnsperf's and unbound's cgroups'
	bpfRuntime               [2]time.Duration  // on+bpf-stats: dns_egress's and dns_ingress's run time
	bpfRuns                  [2]uint64         // on+bpf-stats: their runs
	foreign                  int               // socket programs in effect for dnsperf or unbound, not the collector's
	queries, responses       float64           // collector: dns_queries_total, dns_responses_total
	samples                  float64           // collector: dns_response_latency_seconds sample count
	unanswered, untracked    float64           // collector: dns_queries_unanswered_total, dns_queries_untracked_total
	eventsLost, serverSeries float64           // collector: dns_exporter_events_lost_total; series of unbound's cgroup
	mismatches               []string
}

func (r fullRateRound) String() string {
	s := fmt.Sprintf("exporter=%s: %.0f qps, dnsperf sent %d, completed %d, lost %d %v; CPU: workload %.0f ns/query, this process %s",
		r.mode, r.qps, r.sent, r.completed, r.lost, r.rcodes,
		float64(r.workloadCPU.Nanoseconds())/float64(r.completed), r.processCPU.Round(time.Millisecond))
	if r.mode == fullRateOnStats {
		s += fmt.Sprintf(", BPF programs %.0f ns/query (dns_egress %d runs of %.0f ns, dns_ingress %d runs of %.0f ns)",
			float64(r.bpfRuntime[0].Nanoseconds()+r.bpfRuntime[1].Nanoseconds())/float64(r.completed),
			r.bpfRuns[0], float64(r.bpfRuntime[0].Nanoseconds())/float64(r.bpfRuns[0]),
			r.bpfRuns[1], float64(r.bpfRuntime[1].Nanoseconds())/float64(r.bpfRuns[1]))
	}
	if r.foreign > 0 {
		s += fmt.Sprintf("; %d socket programs of others in effect", r.foreign)
	}
	if r.mode != fullRateOff {
		s += fmt.Sprintf("; counted: queries %.0f, responses %.0f, latency samples %.0f, unanswered %.0f, untracked %.0f, events lost %.0f, unbound's series %.0f",
			r.queries, r.responses, r.samples, r.unanswered, r.untracked, r.eventsLost, r.serverSeries)
	}
	if r.mode != fullRateOff && len(r.mismatches) == 0 {
		s += ": exact"
	}
	return s
}

// round runs dnsperf once from a new cgroup, with a new collector attached
// or none, and fails the benchmark on any count that is not exact.
func (e fullRateEnv) round(b *testing.B, m fullRateMode) fullRateRound {
	b.Helper()
	var h *collectortest.Harness
	var before collectortest.Snapshot
	var progs []*ebpf.Program
	if m != fullRateOff {
		h = collectortest.New(b, namespace, "dns", func(ctx context.Context, env exporter.Env) (exporter.Collector, error) {
			return New(ctx, env, Options{Ports: []uint16{e.addr.Port()}, Timeout: fullRateTimeout})
		})
		before = h.Scrape()
	}
	if m == fullRateOnStats {
		c := h.C.(*Collector)
		progs = []*ebpf.Program{c.objs.DnsEgress, c.objs.DnsIngress}
	}
	client := testenv.NewCgroup(b)
	r := e.runDNSPerf(b, client, progs)
	r.mode = m
	if m == fullRateOff {
		return r
	}
	r.foreign -= 4 // the collector's two, for each of the two cgroups

	time.Sleep(fullRateTimeout * 3 / 2) // lost queries, if any, are reaped as unanswered
	after := h.Scrape()
	delta := func(cg *testenv.Cgroup, metric string, kv ...string) float64 {
		return workloadSum(after, cg, metric, kv...) - workloadSum(before, cg, metric, kv...)
	}
	r.queries = delta(client, "dns_queries_total")
	r.responses = delta(client, "dns_responses_total")
	r.samples = delta(client, "dns_response_latency_seconds")
	r.unanswered = delta(client, "dns_queries_unanswered_total")
	r.untracked = delta(client, "dns_queries_untracked_total")
	r.eventsLost = float64(gatherLost(b, h.Registry))
	r.serverSeries = float64(countSeries(after, e.server))
	r.expect("dns_queries_total", r.queries, float64(r.sent))
	r.expect("dns_responses_total", r.responses, float64(r.completed))
	for rcode, n := range r.rcodes {
		r.expect("dns_responses_total{rcode="+rcode+"}", delta(client, "dns_responses_total", "rcode", rcode), float64(n))
	}
	r.expect("dns_response_latency_seconds samples", r.samples, float64(r.completed))
	r.expect("dns_queries_unanswered_total", r.unanswered, float64(r.lost))
	r.expect("dns_queries_untracked_total", r.untracked, 0)
	r.expect("dns_exporter_events_lost_total", r.eventsLost, 0)
	r.expect("series of unbound's cgroup", r.serverSeries, 0)
	if len(r.mismatches) > 0 {
		b.Fatalf("%s\nnot exact:\n%s", r, strings.Join(r.mismatches, "\n"))
	}
	return r
}

// expect records a count that differs from what dnsperf says.
func (r *fullRateRound) expect(what string, got, want float64) {
	if got != want {
		r.mismatches = append(r.mismatches, fmt.Sprintf("  %s: %v, want %v", what, got, want))
	}
}

// runDNSPerf runs dnsperf at its maximum rate for fullRateDuration in cg and
// the client namespace, and returns its statistics and the CPU time it,
// unbound and this process took meanwhile.
//
// With progs, it turns the kernel's BPF run-time statistics on for the run
// (which costs each run of every program two clock reads) and returns
// progs' run time and runs during it.
func (e fullRateEnv) runDNSPerf(b *testing.B, cg *testenv.Cgroup, progs []*ebpf.Program) fullRateRound {
	b.Helper()
	cmd := exec.Command("ip", "netns", "exec", e.clientNetns.Name, "dnsperf",
		"-s", e.addr.Addr().String(), "-p", strconv.Itoa(int(e.addr.Port())), "-d", e.queries,
		"-l", strconv.Itoa(int(fullRateDuration.Seconds())), "-c", strconv.Itoa(fullRateClients),
		"-T", strconv.Itoa(fullRateThreads), "-q", strconv.Itoa(fullRateOutstanding))
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if len(progs) > 0 {
		stats, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
		if err != nil {
			b.Fatalf("turning BPF statistics on: %v", err)
		}
		defer stats.Close()
	}
	var r fullRateRound
	programs := socketPrograms(b, cg) + socketPrograms(b, e.server)
	runtime0, runs0 := progStats(b, progs)
	process0, server0 := processCPU(b), cgroupCPU(b, e.server)
	p := cg.StartCmd(b, cmd)
	p.Go(b)
	code := p.Wait(b)
	runtime1, runs1 := progStats(b, progs)
	for i := range progs {
		r.bpfRuntime[i], r.bpfRuns[i] = runtime1[i]-runtime0[i], runs1[i]-runs0[i]
	}
	r.foreign = max(programs, socketPrograms(b, cg)+socketPrograms(b, e.server))
	r.processCPU = processCPU(b) - process0
	r.workloadCPU = cgroupCPU(b, cg) + cgroupCPU(b, e.server) - server0
	if code != 0 {
		b.Fatalf("dnsperf exited %d:\n%s", code, out.Bytes())
	}
	r.sent = uint64(dnsperfField(b, out.Bytes(), "Queries sent"))
	r.completed = uint64(dnsperfField(b, out.Bytes(), "Queries completed"))
	r.lost = uint64(dnsperfField(b, out.Bytes(), "Queries lost"))
	r.qps = dnsperfField(b, out.Bytes(), "Queries per second")
	r.rcodes = dnsperfRcodes(b, out.Bytes())
	return r
}

// dnsperfRcodes reads "Response codes: NOERROR 294000 (66.67%), ...".
func dnsperfRcodes(b *testing.B, out []byte) map[string]uint64 {
	b.Helper()
	line := regexp.MustCompile(`(?m)^\s*Response codes:(.*)$`).FindSubmatch(out)
	if line == nil {
		b.Fatalf("no response codes in dnsperf output:\n%s", out)
	}
	rcodes := make(map[string]uint64)
	for _, m := range regexp.MustCompile(`([A-Z]+) ([0-9]+) \(`).FindAllSubmatch(line[1], -1) {
		n, err := strconv.ParseUint(string(m[2]), 10, 64)
		if err != nil {
			b.Fatal(err)
		}
		rcodes[string(m[1])] = n
	}
	return rcodes
}

// workloadSum sums metric over cg's series in s that have the label pairs
// kv: counters' values, histograms' sample counts.
func workloadSum(s collectortest.Snapshot, cg *testenv.Cgroup, metric string, kv ...string) float64 {
	var sum float64
	for name, m := range s {
		if strings.HasPrefix(name, metric+"{") && cgroupOf(m) == cg.Path && hasLabels(name, kv) {
			sum += value(m)
		}
	}
	return sum
}

// hasLabels reports whether a series name (collectortest.SeriesOf) has the
// label pairs kv.
func hasLabels(name string, kv []string) bool {
	for i := 0; i+1 < len(kv); i += 2 {
		if !strings.Contains(name, kv[i]+"="+strconv.Quote(kv[i+1])) {
			return false
		}
	}
	return true
}

// countSeries counts cg's series in s.
func countSeries(s collectortest.Snapshot, cg *testenv.Cgroup) int {
	n := 0
	for _, m := range s {
		if cgroupOf(m) == cg.Path {
			n++
		}
	}
	return n
}

// progStats returns the run time and runs so far of each of progs (two at most).
func progStats(b *testing.B, progs []*ebpf.Program) (runtime [2]time.Duration, runs [2]uint64) {
	b.Helper()
	for i, p := range progs {
		s, err := p.Stats()
		if err != nil {
			b.Fatalf("reading BPF statistics: %v", err)
		}
		runtime[i], runs[i] = s.Runtime, s.RunCount
	}
	return runtime, runs
}

// socketPrograms counts the cgroup_skb programs in effect for the sockets
// of cg's processes, both directions.
func socketPrograms(b *testing.B, cg *testenv.Cgroup) int {
	b.Helper()
	f, err := os.Open(cg.V2Dir)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	n := 0
	for _, a := range []ebpf.AttachType{ebpf.AttachCGroupInetIngress, ebpf.AttachCGroupInetEgress} {
		res, err := link.QueryPrograms(link.QueryOptions{Target: int(f.Fd()), Attach: a, QueryFlags: unix.BPF_F_QUERY_EFFECTIVE})
		if err != nil {
			b.Fatalf("querying the programs in effect for %s: %v", cg.Path, err)
		}
		n += len(res.Programs)
	}
	return n
}

// processCPU is this process's user and system CPU time so far.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cgroupCPU is the CPU time of cg's processes so far (cpu.stat usage_usec,
// which cgroup v2 keeps without a cpu controller).
func cgroupCPU(b *testing.B, cg *testenv.Cgroup) time.Duration {
	b.Helper()
	data, err := os.ReadFile(filepath.Join(cg.V2Dir, "cpu.stat"))
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "usage_usec "); ok {
			us, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return time.Duration(us) * time.Microsecond
		}
	}
	b.Fatalf("no usage_usec in %s/cpu.stat", cg.V2Dir)
	return 0
}

// writeFullRateQueries writes dnsperf's query file: an A and an AAAA query
// for each name of the zone, then an A query for each missing name.
func writeFullRateQueries(b *testing.B) string {
	b.Helper()
	var q strings.Builder
	for i := range fullRateHosts {
		fmt.Fprintf(&q, "host%d.%s A\nhost%d.%s AAAA\n", i, fullRateZone, i, fullRateZone)
	}
	for i := range fullRateMissing {
		fmt.Fprintf(&q, "missing%d.%s A\n", i, fullRateZone)
	}
	path := filepath.Join(b.TempDir(), "queries")
	if err := os.WriteFile(path, []byte(q.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// unboundConfig serves fullRateZone from local data on addr, and refuses
// every other name: nothing recurses, nothing goes upstream. The socket
// buffers are large enough for dnsperf's first burst, which overflows the
// default receive buffer.
func unboundConfig(dir string, addr netip.AddrPort) string {
	var c strings.Builder
	fmt.Fprintf(&c, `server:
	interface: %s
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
	so-rcvbuf: 4m
	so-sndbuf: 4m
	module-config: "iterator"
	access-control: 198.18.0.0/15 allow
	local-zone: "." refuse
	local-zone: %q static
`, addr.Addr(), addr.Port(), dir, fullRateZone)
	for i := range fullRateHosts {
		fmt.Fprintf(&c, "\tlocal-data: \"host%d.%s 3600 IN A 198.51.100.%d\"\n", i, fullRateZone, i+1)
		fmt.Fprintf(&c, "\tlocal-data: \"host%d.%s 3600 IN AAAA 2001:db8::%x\"\n", i, fullRateZone, i+1)
	}
	c.WriteString("remote-control:\n\tcontrol-enable: no\n")
	return c.String()
}

// startNetnsUnbound runs unbound in the foreground in cg and netns, serving
// on addr (unboundConfig) until the benchmark ends, and returns once it
// answers.
func startNetnsUnbound(b *testing.B, cg *testenv.Cgroup, netns *testenv.Netns, addr netip.AddrPort) {
	b.Helper()
	dir := b.TempDir()
	conf := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(conf, []byte(unboundConfig(dir, addr)), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command("ip", "netns", "exec", netns.Name, "unbound", "-d", "-c", conf)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cg.StartCmd(b, cmd).Go(b)
	errc := make(chan error, 1)
	go func() { errc <- waitAnswering(netns.Name, addr) }()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
}

// waitAnswering enters the named network namespace (so the calling
// goroutine must be one that may die with its thread) and asks addr for
// host0 of the zone until it answers, for up to 10 s.
func waitAnswering(netns string, addr netip.AddrPort) error {
	if err := testenv.EnterNetns(netns); err != nil {
		return err
	}
	m := newQuery(1, dns.TypeA, "host0."+fullRateZone)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		r, err := dns.Exchange(m, addr.String())
		if err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 1 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("unbound not answering on %s after 10s: %v", addr, err)
		}
	}
}

// reportFullRateSummary reports the medians of the rounds without and
// with the collector (not the round with BPF statistics): queries per
// second, their ratio, and CPU times.
func reportFullRateSummary(b *testing.B, rounds []fullRateRound) {
	var qps, cpuPerQuery, ownCPU [2][]float64
	unclean := 0
	for _, r := range rounds {
		if r.foreign > 0 {
			unclean++
		}
		if r.mode == fullRateOnStats {
			continue
		}
		qps[r.mode] = append(qps[r.mode], r.qps)
		cpuPerQuery[r.mode] = append(cpuPerQuery[r.mode], float64(r.workloadCPU.Nanoseconds())/float64(r.completed))
		ownCPU[r.mode] = append(ownCPU[r.mode], float64(r.processCPU.Microseconds())/1000)
	}
	ratio := median(qps[fullRateOn]) / median(qps[fullRateOff])
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(median(qps[fullRateOff]), "qps-off")
	b.ReportMetric(median(qps[fullRateOn]), "qps-on")
	b.ReportMetric(ratio, "ratio")
	b.ReportMetric(median(cpuPerQuery[fullRateOff]), "workload-cpu-ns/query-off")
	b.ReportMetric(median(cpuPerQuery[fullRateOn]), "workload-cpu-ns/query-on")
	b.Logf("medians of %d rounds without and %d with the collector: %.0f and %.0f qps, ratio %.3f; "+
		"dnsperf's and unbound's CPU %.0f and %.0f ns/query; this process's CPU %.0f and %.0f ms per %s round; "+
		"every round with the collector counted exactly; %d rounds had others' socket programs in effect in all %d tries",
		len(qps[fullRateOff]), len(qps[fullRateOn]), median(qps[fullRateOff]), median(qps[fullRateOn]), ratio,
		median(cpuPerQuery[fullRateOff]), median(cpuPerQuery[fullRateOn]), median(ownCPU[fullRateOff]), median(ownCPU[fullRateOn]), fullRateDuration, unclean, fullRateTries)
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}
