package main

// End-to-end tests of the real dns_exporter binary: TestMain builds it once,
// and each test runs it as a child process on a free loopback port, sends it
// DNS traffic from the test process, scrapes it over HTTP and stops it with
// a signal, as an operator would (internal/exportertest). Tests that load
// BPF programs skip unless they run as root.

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	dto "github.com/prometheus/client_model/go"

	"github.com/bpfleet/bpfleet/internal/exportertest"
	"github.com/bpfleet/bpfleet/internal/testenv"
)

// binary is the path of the dns_exporter that TestMain builds; it is set
// once, before any test runs.
var binary string

func TestMain(m *testing.M) {
	exportertest.Main(m, ".", &binary)
}

// programs are the BPF programs the exporter attaches: the dns collector's
// two cgroup_skb programs and the workload resolver's cgroup watcher.
func programs() []string {
	return []string{"cgroup_mkdir", "cgroup_rmdir", "dns_egress", "dns_ingress"}
}

// waitReady waits until the dns collector is ready and every program is
// attached, and returns that scrape.
func waitReady(t *testing.T, p *exportertest.Process) map[string]*dto.MetricFamily {
	t.Helper()
	p.WaitForMetric(t, "dns_scrape_collector_success", "collector", map[string]float64{"dns": 1})
	attached := map[string]float64{}
	for _, prog := range programs() {
		attached[prog] = 1
	}
	return p.WaitForMetric(t, "dns_exporter_bpf_program_attached", "program", attached)
}

// sample is one expected series: a counter's value or a histogram's sample
// count.
type sample struct {
	metric string
	labels map[string]string
	value  float64
}

// ownSample is a sample of a per-workload metric of the test process's
// cgroup, with the workload labels of a process that is not a Kubernetes
// container and the further labels kv (name, value, ...).
func ownSample(t *testing.T, metric string, value float64, kv ...string) sample {
	t.Helper()
	labels := map[string]string{"cgroup": testenv.SelfCgroupPath(t), "namespace": "", "pod": "", "container": ""}
	for i := 0; i+1 < len(kv); i += 2 {
		labels[kv[i]] = kv[i+1]
	}
	return sample{metric: metric, labels: labels, value: value}
}

func (s sample) String() string {
	var pairs []string
	for _, k := range slices.Sorted(maps.Keys(s.labels)) {
		pairs = append(pairs, fmt.Sprintf("%s=%q", k, s.labels[k]))
	}
	return s.metric + "{" + strings.Join(pairs, ",") + "}"
}

// waitForSamples scrapes until every sample of want is served with its
// value, and returns that scrape.
func waitForSamples(t *testing.T, p *exportertest.Process, want ...sample) map[string]*dto.MetricFamily {
	t.Helper()
	var fams map[string]*dto.MetricFamily
	exportertest.Eventually(t, func() error {
		var err error
		if fams, err = p.Scrape(); err != nil {
			return err
		}
		for _, s := range want {
			if got, ok := served(fams, s); !ok || got != s.value {
				return fmt.Errorf("%s = %v (served: %v), want %v", s, got, ok, s.value)
			}
		}
		return nil
	})
	return fams
}

// served returns the value of the series of fams with exactly the labels
// of s (a label with an empty value is the same as none).
func served(fams map[string]*dto.MetricFamily, s sample) (float64, bool) {
	for _, m := range fams[s.metric].GetMetric() {
		if maps.Equal(nonEmptyLabels(m), nonEmpty(s.labels)) {
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount()), true
			}
			return exportertest.Value(m), true
		}
	}
	return 0, false
}

func nonEmptyLabels(m *dto.Metric) map[string]string {
	labels := map[string]string{}
	for _, l := range m.GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	return nonEmpty(labels)
}

func nonEmpty(labels map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range labels {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

// loopbackDNS is a UDP DNS responder on 127.0.0.1:53 and a client socket
// connected to it, both of the test process (so of its cgroup), in a network
// namespace of their own: no server of another test on the host's
// 127.0.0.1:53 is in the way.
type loopbackDNS struct {
	client net.Conn
	nextID uint16
}

// startResponder starts a responder that answers every query with the
// query itself, with QR set and RCODE rcode, until the test ends.
func startResponder(t *testing.T, rcode int) *loopbackDNS {
	t.Helper()
	ns := testenv.NewNetns(t)
	server, client := loopbackSockets(t, ns.Name)
	t.Cleanup(func() {
		client.Close()
		server.Close()
	})
	go respond(server, byte(rcode))
	return &loopbackDNS{client: client, nextID: 0x4000}
}

// loopbackSockets opens the responder's and the client's sockets in the
// namespace ns, on a goroutine whose thread enters ns and ends with it.
func loopbackSockets(t *testing.T, ns string) (net.PacketConn, net.Conn) {
	t.Helper()
	type sockets struct {
		server net.PacketConn
		client net.Conn
		err    error
	}
	done := make(chan sockets, 1)
	go func() {
		var s sockets
		if s.err = testenv.EnterNetns(ns); s.err != nil {
			done <- s
			return
		}
		if s.server, s.err = net.ListenPacket("udp4", "127.0.0.1:53"); s.err != nil {
			done <- s
			return
		}
		if s.client, s.err = net.Dial("udp4", "127.0.0.1:53"); s.err != nil {
			s.server.Close()
		}
		done <- s
	}()
	s := <-done
	if s.err != nil {
		t.Fatalf("opening sockets on 127.0.0.1 in network namespace %s: %v", ns, s.err)
	}
	return s.server, s.client
}

// respond answers each datagram on conn with itself, QR set and RCODE
// rcode, until conn is closed.
func respond(conn net.PacketConn, rcode byte) {
	buf := make([]byte, 512)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			return
		}
		if n < 12 {
			continue // not a DNS message
		}
		buf[2] |= 0x80 // QR
		buf[3] = buf[3]&^0x0f | rcode
		_, _ = conn.WriteTo(buf[:n], from)
	}
}

// ask sends a query for name and qtype, each with an id of its own, and
// waits for its response, which must carry the query's id and rcode want.
func (d *loopbackDNS) ask(t *testing.T, name string, qtype uint16, want int) {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.Id = d.nextID
	d.nextID++
	wire, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.client.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.client.Write(wire); err != nil {
		t.Fatalf("sending the query for %s: %v", name, err)
	}
	buf := make([]byte, 512)
	n, err := d.client.Read(buf)
	if err != nil {
		t.Fatalf("reading the response for %s: %v", name, err)
	}
	var r dns.Msg
	if err := r.Unpack(buf[:n]); err != nil {
		t.Fatalf("unpacking the response for %s: %v", name, err)
	}
	if r.Id != q.Id || !r.Response || r.Rcode != want {
		t.Fatalf("response id %#x, QR %v, rcode %d; want id %#x, QR set, rcode %d", r.Id, r.Response, r.Rcode, q.Id, want)
	}
}
