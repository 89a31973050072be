package mixins

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) {
	testenv.Main(m, map[string]testenv.Workload{"allocate": allocate})
}

// allocate touches 256 MiB, more than the 32 MiB limit of its cgroup: the
// OOM killer kills it.
func allocate([]string) int {
	b := make([]byte, 256<<20)
	for i := 0; i < len(b); i += 4096 {
		b[i] = 1
	}
	return 0
}

// liveDeadline bounds how long TestMixinsInRealPrometheus waits for every query, rule and
// alert to have data once the workloads run.
const liveDeadline = 90 * time.Second

// exporterUnderTest is an exporter binary, its job (the job its mixin's
// default selector selects) and its mixin, with the _config overrides that
// let alerts fire within seconds.
type exporterUnderTest struct {
	pkg, job, mixin, config string
	// args returns its flags, given the containerd of the CRI and CNI
	// workloads.
	args func(ctd *testenv.Containerd) []string
}

var exportersUnderTest = []exporterUnderTest{{
	pkg:    "github.com/bpfleet/bpfleet/kernel_exporter",
	job:    "kernel-exporter",
	mixin:  "kernel",
	config: `{ oomKilledFor: '1s' }`,
	args:   func(*testenv.Containerd) []string { return []string{"--cri.endpoint="} },
}, {
	pkg:    "github.com/bpfleet/bpfleet/dns_exporter",
	job:    "dns-exporter",
	mixin:  "dns",
	config: `{ unansweredFor: '1s' }`,
	args: func(*testenv.Containerd) []string {
		return []string{"--cri.endpoint=", "--collector.dns.timeout=1s", "--collector.dns.names"}
	},
}, {
	pkg:    "github.com/bpfleet/bpfleet/cri_exporter",
	job:    "cri-exporter",
	mixin:  "cri",
	config: `{ oomKilledFor: '1s' }`,
	args: func(ctd *testenv.Containerd) []string {
		return []string{"--cri.endpoint=" + ctd.Endpoint, "--workload.kubelet-cgroup-root=" + ctd.CgroupParent,
			"--collector.cri.poll-interval=100ms"}
	},
}, {
	pkg:    "github.com/bpfleet/bpfleet/cni_exporter",
	job:    "cni-exporter",
	mixin:  "cni",
	config: `{ addFailuresFor: '1s' }`,
	args: func(ctd *testenv.Containerd) []string {
		return []string{"--cri.endpoint=" + ctd.Endpoint,
			"--collector.plugins.bin-dir=" + ctd.CNIBinDir,
			"--collector.ipam.config-dir=" + filepath.Join(ctd.Dir, "net.d")}
	},
}}

// firingAlerts must reach state firing through real evaluation.
var firingAlerts = []string{"KernelWorkloadOOMKilled", "DNSQueriesUnanswered", "CRIContainerOOMKilled", "CNIAddFailing"}

// TestMixinsInRealPrometheus runs the four real exporters under three real
// Prometheus servers with their mixins' rules loaded (startServers: 2.42
// ingesting native histograms, 2.42 classic buckets, 3.x native histograms
// through scrape_native_histograms), while real workloads run: execs,
// forks and exits, TCP connections (established, refused and timing out
// with SYN retransmits), block writes, DNS queries answered NOERROR,
// NXDOMAIN, SERVFAIL and truncated, ignored, malformed, an OOM kill, and
// through a real containerd (cri_exporter's and cni_exporter's runtime)
// containers that complete, fail, are killed and OOM-killed, pods whose
// CNI ADD succeeds or fails on a full address pool, and packets dropped in
// a pod. Then every dashboard query and every recording rule must return a
// series, and the alerts of firingAlerts must fire.
//
// A query on a histogram's native series must return data on the native
// servers, one on its _bucket, _count or _sum series on the classic
// server, one with both (native, or else classic) on all, and any other
// query on all.
func TestMixinsInRealPrometheus(t *testing.T) {
	testenv.RequireRoot(t)
	prometheus := exportertest.RequireCommand(t, "prometheus", "make test installs it with the prometheus Debian package")
	dir := t.TempDir()
	ctd := startContainerd(t)
	pod := ctd.RunPod(t, testenv.PodSpec{Namespace: "shop", Name: "web-0"})

	var jobs []scrapeJob
	var ruleFiles []string
	var checks []liveCheck
	var exporters []*exportertest.Process
	for _, e := range exportersUnderTest {
		bin := buildExporter(t, dir, e.pkg)
		p := exportertest.Start(t, bin, e.args(ctd)...)
		instance := strings.TrimPrefix(p.URL, "http://")
		jobs = append(jobs, scrapeJob{e.job, instance})
		ruleFiles = append(ruleFiles, writeRendered(t, dir, e.mixin, e.config)...)
		checks = append(checks, mixinChecks(t, e, instance)...)
		exporters = append(exporters, p)
	}
	servers := startServers(t, prometheus, ruleFiles, jobs)
	for _, s := range servers {
		if n, err := s.rulesLoaded(); err != nil || n == 0 {
			t.Fatalf("%s prometheus loaded %d rules (%v)", s.name, n, err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	runWorkloads(ctx, t, &wg, dir, ctd, pod)
	oomKill(t)

	waitForData(t, servers, checks, exporters...)
}

// buildExporter builds the exporter package pkg into dir, with the build
// tags given.
func buildExporter(t *testing.T, dir, pkg string, tags ...string) string {
	t.Helper()
	bin := filepath.Join(dir, filepath.Base(pkg))
	args := []string{"build", "-o", bin}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	if out, err := exec.Command("go", append(args, pkg)...).CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// writeRendered renders the mixin with the _config overrides config and
// writes its rule files into dir, returning their paths.
func writeRendered(t *testing.T, dir, mixin, config string) []string {
	t.Helper()
	files, err := Render(mixin, config)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, name := range []string{"alerts.yaml", "rules.yaml"} {
		path := filepath.Join(dir, mixin+"-"+name)
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, path)
	}
	return paths
}

// histogramsOf returns the names of the histograms the exporters serve.
func histogramsOf(exporters []*exportertest.Process) (map[string]bool, error) {
	names := map[string]bool{}
	for _, p := range exporters {
		fams, err := p.Scrape()
		if err != nil {
			return nil, err
		}
		for name, f := range fams {
			if f.GetType() == dto.MetricType_HISTOGRAM {
				names[name] = true
			}
		}
	}
	return names, nil
}

// liveCheck is a query that must return at least one series, or an alert
// that must fire.
type liveCheck struct {
	where string
	expr  string // "" for an alert
	alert string
}

// mixinChecks returns the checks of exporter e's mixin: each recording rule,
// each dashboard query with its variables set to e's job and instance (and
// All for the workload ones), and the alerts of firingAlerts it has.
func mixinChecks(t *testing.T, e exporterUnderTest, instance string) []liveCheck {
	t.Helper()
	m, err := Evaluate(e.mixin, e.config)
	if err != nil {
		t.Fatal(err)
	}
	var checks []liveCheck
	for _, r := range m.recordingRules() {
		checks = append(checks, liveCheck{where: e.mixin + " recording rule", expr: r.Record})
	}
	values := map[string]string{"cluster": liveCluster, "job": e.job, "instance": instance, "namespace": ".*", "pod": ".*", "container": ".*", "cgroup": ".*"}
	for name, d := range m.Dashboards {
		for _, q := range dashboardQueries(name, d, values, "15s") {
			checks = append(checks, liveCheck{where: q.where, expr: q.expr})
		}
	}
	for _, a := range m.alertRules() {
		for _, name := range firingAlerts {
			if a.Alert == name {
				checks = append(checks, liveCheck{where: e.mixin + " alert", alert: name})
			}
		}
	}
	return checks
}

// missingData returns the checks that fail now, one line each.
func missingData(servers []*promServer, checks []liveCheck, histograms map[string]bool) []string {
	var missing []string
	for _, s := range servers {
		states, err := s.alertStates()
		if err != nil {
			return []string{err.Error()}
		}
		for _, c := range checks {
			if c.alert != "" {
				if states[c.alert] != "firing" {
					missing = append(missing, fmt.Sprintf("%s prometheus: %s %s is %q, want firing", s.name, c.where, c.alert, states[c.alert]))
				}
				continue
			}
			native, classic := histogramSeries(c.expr, histograms)
			if s.native && !native && classic || !s.native && native && !classic {
				continue // the series it reads are not on this server
			}
			if n, err := s.series(c.expr); err != nil || n == 0 {
				missing = append(missing, fmt.Sprintf("%s prometheus: %s: %d series (%v):\n  %s", s.name, c.where, n, err, strings.ReplaceAll(c.expr, "\n", "\n  ")))
			}
		}
	}
	return missing
}

// histogramSeries reports whether expr reads the native series of one of
// histograms, and whether it reads their classic _bucket, _count or _sum
// series. A recording rule's name (level:metric:operations) is neither.
func histogramSeries(expr string, histograms map[string]bool) (native, classic bool) {
	for name := range histograms {
		for _, m := range regexp.MustCompile(`(^|[^\w:])`+name+`(\w*)`).FindAllStringSubmatch(expr, -1) {
			switch m[2] {
			case "":
				native = native || !strings.Contains(expr, name+":")
			case "_bucket", "_count", "_sum":
				classic = true
			}
		}
	}
	return native, classic
}

// oomKill runs a process in a cgroup limited to 32 MiB that touches more:
// the OOM killer must kill it.
func oomKill(t *testing.T) {
	t.Helper()
	cg := testenv.NewCgroup(t)
	cg.SetMemoryLimit(t, 32<<20)
	if code := cg.Run(t, "allocate"); code != -1 {
		t.Fatalf("allocate in a 32 MiB cgroup exited %d, want killed by a signal", code)
	}
}

// runWorkloads starts the workloads that every panel needs data from, until
// ctx ends.
func runWorkloads(ctx context.Context, t *testing.T, wg *sync.WaitGroup, dir string, ctd *testenv.Containerd, pod *testenv.Pod) {
	t.Helper()
	tcp := newTCPWorkload(t)
	dnsw := newDNSWorkload(t)
	criw := newCRIWorkload(t, ctd, pod)
	cniw := &cniWorkload{ctd: ctd}
	drops := dropSocket(t, ctd, pod)
	loop := func(every time.Duration, f func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				f()
				select {
				case <-ctx.Done():
				case <-time.After(every):
				}
			}
		}()
	}
	loop(200*time.Millisecond, func() {
		_ = exec.Command("/bin/true").Run()
		_ = exec.Command("/bin/false").Run()
	})
	loop(200*time.Millisecond, tcp.connect)
	loop(0, tcp.retransmit)
	loop(500*time.Millisecond, func() { writeAndSync(filepath.Join(dir, "block")) })
	loop(200*time.Millisecond, dnsw.query)
	loop(200*time.Millisecond, criw.run)
	loop(200*time.Millisecond, cniw.cycle)
	loop(200*time.Millisecond, func() { drop(drops) })
}

// writeAndSync writes 64 KiB to path and syncs it: block writes and a flush.
func writeAndSync(path string) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	_, _ = f.Write(make([]byte, 64<<10))
	_ = f.Sync()
}

// tcpWorkload makes TCP connections on loopback: established ones, refused
// ones, and ones to a listener whose accept queue is full, whose SYNs the
// kernel drops and retransmits until the connect times out.
type tcpWorkload struct {
	open, closed, full string
}

func newTCPWorkload(t *testing.T) *tcpWorkload {
	t.Helper()
	open, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { open.Close() })
	go func() {
		for {
			c, err := open.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	closed, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	w := &tcpWorkload{open: open.Addr().String(), closed: closed.Addr().String(), full: fullListener(t)}
	// Fills the accept queue of one.
	c, err := net.Dial("tcp4", w.full)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return w
}

// fullListener listens on loopback with a backlog of 0 (an accept queue of
// one) and never accepts.
func fullListener(t *testing.T) string {
	t.Helper()
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	if err := unix.Bind(fd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := unix.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*unix.SockaddrInet4).Port)
}

// connect makes one connection and tries one refused one.
func (w *tcpWorkload) connect() {
	if c, err := net.Dial("tcp4", w.open); err == nil {
		c.Close()
	}
	if c, err := net.Dial("tcp4", w.closed); err == nil {
		c.Close()
	}
}

// retransmit connects to the full listener until the connect times out,
// after the SYN's first retransmission (1s).
func (w *tcpWorkload) retransmit() {
	if c, err := net.DialTimeout("tcp4", w.full, 1500*time.Millisecond); err == nil {
		c.Close()
	}
}

// dnsWorkload is a DNS responder on 127.0.0.1:53 and a client of it, in a
// network namespace of their own (no other server on the host's port 53 is
// in the way; the exporter sees every namespace). The responder answers by
// the queried name.
type dnsWorkload struct {
	client net.Conn
}

// Names the responder knows, and how it answers them.
const (
	nameOK        = "ok.bpfleet.test."        // NOERROR, one A record
	nameMissing   = "missing.bpfleet.test."   // NXDOMAIN
	nameBroken    = "broken.bpfleet.test."    // SERVFAIL
	nameTruncated = "truncated.bpfleet.test." // NOERROR with TC set
	nameSilent    = "silent.bpfleet.test."    // no response
)

func newDNSWorkload(t *testing.T) *dnsWorkload {
	t.Helper()
	ns := testenv.NewNetns(t)
	server, client := dnsSockets(t, ns.Name)
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	srv := &dns.Server{PacketConn: server, Handler: dns.HandlerFunc(answer)}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return &dnsWorkload{client: client}
}

// dnsSockets opens the responder's socket and a client socket connected to
// it in network namespace ns.
func dnsSockets(t *testing.T, ns string) (net.PacketConn, net.Conn) {
	t.Helper()
	var server net.PacketConn
	var client net.Conn
	err := inNetns(ns, func() (err error) {
		if server, err = net.ListenPacket("udp4", "127.0.0.1:53"); err != nil {
			return err
		}
		if client, err = net.Dial("udp4", "127.0.0.1:53"); err != nil {
			server.Close()
		}
		return err
	})
	if err != nil {
		t.Fatalf("opening DNS sockets in network namespace %s: %v", ns, err)
	}
	return server, client
}

// inNetns runs open on a thread that it moves into network namespace ns
// (see testenv.EnterNetns), then discards: the sockets that open makes
// live in that namespace, and no other goroutine runs there.
func inNetns(ns string, open func() error) error {
	errc := make(chan error, 1)
	go func() {
		// Exits locked to its thread, which then ends: the namespace goes with it.
		err := testenv.EnterNetns(ns)
		if err == nil {
			err = open()
		}
		errc <- err
	}()
	return <-errc
}

// answer answers a query by its name (see nameOK...).
func answer(w dns.ResponseWriter, q *dns.Msg) {
	if len(q.Question) != 1 {
		return
	}
	r := new(dns.Msg)
	r.SetReply(q)
	switch q.Question[0].Name {
	case nameOK:
		a, err := dns.NewRR(nameOK + " 60 IN A 192.0.2.1")
		if err == nil {
			r.Answer = append(r.Answer, a)
		}
	case nameMissing:
		r.Rcode = dns.RcodeNameError
	case nameBroken:
		r.Rcode = dns.RcodeServerFailure
	case nameTruncated:
		r.Truncated = true
	case nameSilent:
		return
	default:
		r.Rcode = dns.RcodeRefused
	}
	_ = w.WriteMsg(r)
}

// query sends one query of each name, and one malformed packet.
func (w *dnsWorkload) query() {
	c := &dns.Client{Timeout: 300 * time.Millisecond}
	for _, name := range []string{nameOK, nameMissing, nameBroken, nameTruncated, nameSilent} {
		_, _, _ = c.ExchangeWithConn(new(dns.Msg).SetQuestion(name, dns.TypeA), &dns.Conn{Conn: w.client})
	}
	// Two bytes: a header cut short.
	_, _ = w.client.Write([]byte{0xbf, 0x1e})
}

// waitForData waits until every check has data on servers (the histograms
// the exporters serve decide which server a query must have data on), or
// fails the test after liveDeadline, naming what is missing.
func waitForData(t *testing.T, servers []*promServer, checks []liveCheck, exporters ...*exportertest.Process) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(liveDeadline)
	for {
		histograms, err := histogramsOf(exporters)
		if err != nil {
			t.Fatal(err)
		}
		missing := missingData(servers, checks, histograms)
		if len(missing) == 0 {
			t.Logf("%d checks pass, %v after the workloads started", len(checks), time.Since(start).Round(time.Second))
			return
		}
		if time.Now().After(deadline) {
			var logs strings.Builder
			for _, p := range exporters {
				logs.WriteString(p.Log())
			}
			t.Fatalf("after %v, %d checks still fail:\n%s\nexporter logs:\n%s", liveDeadline, len(missing), strings.Join(missing, "\n"), logs.String())
		}
		time.Sleep(2 * time.Second)
	}
}
