package collector

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/bpfleet/bpfleet/internal/testenv"
)

// workloads are the children tests start in cgroups, by name.
var workloads = map[string]testenv.Workload{
	"dns-server": dnsServerWorkload,
	"dns-client": dnsClientWorkload,
	"udp-send":   udpSendWorkload,
}

func TestMain(m *testing.M) {
	testenv.Main(m, workloads)
}

// slowDelay is how long the test zone's server waits before it answers
// slow.test.
const slowDelay = 50 * time.Millisecond

// testZone is the zone of the dns-server workload. www.test. has an address
// of each family; big.test.'s TXT records take about 900 bytes, more than a
// DNS message over UDP without EDNS0 may (512), and less than a TCP segment
// on a 1500-byte link, so that each response is one segment.
func testZone() map[string][]dns.RR {
	zone := map[string][]dns.RR{}
	records := []string{
		"www.test. 60 IN A 198.51.100.1",
		"www.test. 60 IN AAAA 2001:db8::1",
		"slow.test. 60 IN MX 10 www.test.",
	}
	for i := range 12 {
		records = append(records, fmt.Sprintf("big.test. 60 IN TXT %q", strings.Repeat(strconv.Itoa(i%10), 60)))
	}
	for _, r := range records {
		rr, err := dns.NewRR(r)
		if err != nil {
			panic(err) // a typo in the records above
		}
		zone[rr.Header().Name] = append(zone[rr.Header().Name], rr)
	}
	return zone
}

// zoneHandler answers from the test zone as an authoritative server does,
// with these exceptions: fail.test. is SERVFAIL, lost.test. is never
// answered, slow.test. is answered after slowDelay. Over UDP, a response
// that does not fit 512 bytes is truncated (TC), as RFC 1035 has it.
type zoneHandler map[string][]dns.RR

func (z zoneHandler) ServeDNS(w dns.ResponseWriter, q *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(q)
	m.Authoritative = true
	name, qtype := strings.ToLower(q.Question[0].Name), q.Question[0].Qtype
	switch name {
	case "lost.test.":
		return
	case "fail.test.":
		m.Rcode = dns.RcodeServerFailure
	case "slow.test.":
		time.Sleep(slowDelay)
	}
	rrs, ok := z[name]
	if !ok && m.Rcode == dns.RcodeSuccess {
		m.Rcode = dns.RcodeNameError
	}
	for _, rr := range rrs {
		if rr.Header().Rrtype == qtype {
			m.Answer = append(m.Answer, rr)
		}
	}
	if w.LocalAddr().Network() == "udp" {
		m.Truncate(dns.MinMsgSize)
	}
	_ = w.WriteMsg(m)
}

// dnsServerWorkload serves the test zone (zoneHandler) over UDP and TCP on
// each address argument (host:port) until it is killed. Once its sockets
// are bound it creates the file -ready. With -netns it serves in that
// network namespace.
func dnsServerWorkload(args []string) int {
	fs := flag.NewFlagSet("dns-server", flag.ContinueOnError)
	netns := fs.String("netns", "", "network namespace to serve in")
	ready := fs.String("ready", "", "file to create once listening")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	return exitCode("dns-server", serveZone(*netns, *ready, fs.Args()))
}

func serveZone(netns, ready string, addrs []string) error {
	if err := enterNetns(netns); err != nil {
		return err
	}
	h := zoneHandler(testZone())
	var servers []*dns.Server
	for _, addr := range addrs {
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			return err
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		servers = append(servers, &dns.Server{PacketConn: pc, Handler: h}, &dns.Server{Listener: l, Handler: h})
	}
	if err := os.WriteFile(ready, nil, 0o600); err != nil {
		return err
	}
	errs := make(chan error, len(servers))
	for _, s := range servers {
		go func() { errs <- s.ActivateAndServe() }()
	}
	return <-errs
}

// query is a line of a dns-client's plan: n queries for name and qtype over
// proto (udp or tcp) to server, each of which must end in rcode, or in no
// answer at all when rcode is noAnswer.
type query struct {
	proto, server, name, qtype, rcode string
	n                                 int
}

// noAnswer is the rcode of a query that must get no response.
const noAnswer = "none"

func (q query) String() string {
	return fmt.Sprintf("%s %s %s %s %s %d", q.proto, q.server, q.name, q.qtype, q.rcode, q.n)
}

func parseQuery(s string) (query, error) {
	f := strings.Fields(s)
	if len(f) != 6 {
		return query{}, fmt.Errorf("query %q: want proto server name qtype rcode n", s)
	}
	n, err := strconv.Atoi(f[5])
	if err != nil {
		return query{}, fmt.Errorf("query %q: %w", s, err)
	}
	return query{proto: f[0], server: f[1], name: f[2], qtype: f[3], rcode: f[4], n: n}, nil
}

// dnsClientWorkload sends the queries of its arguments (query.String), one
// at a time, each from a socket of its own, and fails on any outcome but
// the one each expects. A response with TC over UDP is retried over TCP, as
// a stub resolver does. A query waits -timeout for its response. With -netns
// it queries from that network namespace.
func dnsClientWorkload(args []string) int {
	fs := flag.NewFlagSet("dns-client", flag.ContinueOnError)
	netns := fs.String("netns", "", "network namespace to query from")
	timeout := fs.Duration("timeout", 400*time.Millisecond, "time to wait for each response")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	return exitCode("dns-client", sendQueries(*netns, *timeout, fs.Args()))
}

func sendQueries(netns string, timeout time.Duration, plan []string) error {
	// Sockets are made on this goroutine only: its thread is in netns.
	if err := enterNetns(netns); err != nil {
		return err
	}
	for _, line := range plan {
		q, err := parseQuery(line)
		if err != nil {
			return err
		}
		for range q.n {
			if err := ask(q, timeout); err != nil {
				return fmt.Errorf("%s: %w", q, err)
			}
		}
	}
	return nil
}

// ask sends one query of q and checks its outcome.
func ask(q query, timeout time.Duration) error {
	qtype, ok := dns.StringToType[q.qtype]
	if !ok {
		return fmt.Errorf("unknown qtype %q", q.qtype)
	}
	m := new(dns.Msg)
	m.SetQuestion(q.name, qtype)
	r, err := exchange(q.proto, q.server, m, timeout)
	var nerr net.Error
	switch {
	case q.rcode == noAnswer && errors.As(err, &nerr) && nerr.Timeout():
		return nil
	case err != nil:
		return err
	case q.rcode == noAnswer:
		return fmt.Errorf("answered %s, want no answer", dns.RcodeToString[r.Rcode])
	case dns.RcodeToString[r.Rcode] != q.rcode:
		return fmt.Errorf("answered %s", dns.RcodeToString[r.Rcode])
	case r.Rcode == dns.RcodeSuccess && (len(r.Answer) == 0 || r.Truncated):
		return fmt.Errorf("answer incomplete: %v", r)
	}
	return nil
}

// exchange sends m over proto to server from a new socket and returns the
// response; a truncated response over UDP is retried over TCP.
func exchange(proto, server string, m *dns.Msg, timeout time.Duration) (*dns.Msg, error) {
	nc, err := net.Dial(proto, server)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	c := &dns.Client{Net: proto, Timeout: timeout}
	r, _, err := c.ExchangeWithConn(m, &dns.Conn{Conn: nc})
	if err == nil && r.Truncated && proto == "udp" {
		return exchange("tcp", server, m, timeout)
	}
	return r, err
}

// udpSendWorkload sends datagrams to each address of -to (comma-separated
// host:port) from a socket of its own, and receives each on a socket bound
// to that address, which drops it: nothing answers. Each argument is
// "n:hex", a datagram in hex sent n times. With -netns it sends in that
// network namespace.
func udpSendWorkload(args []string) int {
	fs := flag.NewFlagSet("udp-send", flag.ContinueOnError)
	netns := fs.String("netns", "", "network namespace to send in")
	to := fs.String("to", "", "comma-separated addresses to send to")
	from := fs.String("from", "", "local address to send from (a DNS server's, to send responses)")
	varyID := fs.Bool("vary-id", false, "give each datagram sent a DNS id of its own (1, 2, ...): distinct queries")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	return exitCode("udp-send", sendDatagrams(*netns, *from, *varyID, strings.Split(*to, ","), fs.Args()))
}

func sendDatagrams(netns, from string, varyID bool, to, datagrams []string) error {
	if err := enterNetns(netns); err != nil {
		return err
	}
	for _, addr := range to {
		if err := sendTo(from, addr, varyID, datagrams); err != nil {
			return fmt.Errorf("sending to %s: %w", addr, err)
		}
	}
	return nil
}

func sendTo(from, addr string, varyID bool, datagrams []string) error {
	sink, err := net.ListenPacket("udp", addr)
	if err != nil {
		return err
	}
	defer sink.Close()
	d := net.Dialer{}
	if from != "" {
		if d.LocalAddr, err = net.ResolveUDPAddr("udp", from); err != nil {
			return err
		}
	}
	c, err := d.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	buf := make([]byte, 1500)
	id := uint16(0)
	for _, d := range datagrams {
		count, data, _ := strings.Cut(d, ":")
		n, err := strconv.Atoi(count)
		if err != nil {
			return fmt.Errorf("datagram %q: %w", d, err)
		}
		b, err := hex.DecodeString(data)
		if err != nil {
			return fmt.Errorf("datagram %q: %w", d, err)
		}
		for range n {
			if varyID && len(b) >= 2 {
				id++
				binary.BigEndian.PutUint16(b, id)
			}
			if _, err := c.Write(b); err != nil {
				return err
			}
			if err := sink.SetReadDeadline(time.Now().Add(5 * time.Second)); err != nil {
				return err
			}
			if got, _, err := sink.ReadFrom(buf); err != nil || got != len(b) {
				return fmt.Errorf("receiving %x: %d bytes, %v", b, got, err)
			}
		}
	}
	return nil
}

// enterNetns enters the named network namespace, if any, on the calling
// goroutine's thread.
func enterNetns(name string) error {
	if name == "" {
		return nil
	}
	return testenv.EnterNetns(name)
}

// exitCode reports err, if any, as a workload's exit code.
func exitCode(name string, err error) int {
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		return 1
	}
	return 0
}
