package testenv

import (
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func TestNewVethAddressesAndNames(t *testing.T) {
	a, b, c := NewNetns(t), NewNetns(t), NewNetns(t)

	ab, ba := NewVeth(t, a, b)
	bc, cb := NewVeth(t, b, c) // b already has subnet 0
	ac, ca := NewVeth(t, a, c) // a and c have subnets up to 1

	want := []struct {
		end        VethEnd
		ns         *Netns
		name, mac  string
		ipv4, ipv6 string
	}{
		{ab, a, "veth0a", "02:62:66:00:00:01", "198.18.0.1/24", "2001:db8:0:0::1/64"},
		{ba, b, "veth0b", "02:62:66:00:00:02", "198.18.0.2/24", "2001:db8:0:0::2/64"},
		{bc, b, "veth1a", "02:62:66:00:01:01", "198.18.1.1/24", "2001:db8:0:1::1/64"},
		{cb, c, "veth1b", "02:62:66:00:01:02", "198.18.1.2/24", "2001:db8:0:1::2/64"},
		{ac, a, "veth2a", "02:62:66:00:02:01", "198.18.2.1/24", "2001:db8:0:2::1/64"},
		{ca, c, "veth2b", "02:62:66:00:02:02", "198.18.2.2/24", "2001:db8:0:2::2/64"},
	}
	for _, w := range want {
		e := w.end
		if e.Netns != w.ns || e.Name != w.name || e.MAC.String() != w.mac ||
			e.IPv4 != netip.MustParsePrefix(w.ipv4) || e.IPv6 != netip.MustParsePrefix(w.ipv6) {
			t.Errorf("end %s in %s: %s %s %s, want %s in %s: %s %s %s", e.Name, e.Netns.Name, e.MAC, e.IPv4, e.IPv6,
				w.name, w.ns.Name, w.mac, w.ipv4, w.ipv6)
		}
		link := ipBrief(t, w.ns, "link", w.name)
		addrs := ipBrief(t, w.ns, "addr", w.name)
		for _, f := range []struct{ out, want string }{{link, w.mac}, {link, "UP"}, {addrs, e.IPv4.String()}, {addrs, e.IPv6.String()}} {
			if !slices.Contains(strings.Fields(f.out), f.want) {
				t.Errorf("%s in %s: %q lacks %s", w.name, w.ns.Name, f.out, f.want)
			}
		}
	}
}

// ipBrief returns `ip -brief <object> show dev <dev>` in ns.
func ipBrief(t *testing.T, ns *Netns, object, dev string) string {
	out, err := exec.Command("ip", "-n", ns.Name, "-brief", object, "show", "dev", dev).CombinedOutput()
	if err != nil {
		t.Fatalf("ip %s show dev %s: %v: %s", object, dev, err, out)
	}
	return string(out)
}

func TestNetnsDeletedAtCleanup(t *testing.T) {
	var path string
	t.Run("make", func(t *testing.T) {
		path = NewNetns(t).Path()
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("namespace not made: %v", err)
		}
	})
	if path == "" {
		t.Skip("namespace not made")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("stat %s after cleanup: %v, want not exist", path, err)
	}
}

// TestEnterNetnsConnectsOverVeth listens on b's addresses from a goroutine
// in b and dials them from one in a: the addresses exist only in b, and a
// reaches them only through the pair.
func TestEnterNetnsConnectsOverVeth(t *testing.T) {
	a, b := NewNetns(t), NewNetns(t)
	ea, eb := NewVeth(t, a, b)

	for _, server := range []netip.Addr{eb.IPv4.Addr(), eb.IPv6.Addr()} {
		addr := netip.AddrPortFrom(server, 7).String()
		l, err := inNetns(b.Name, func() (net.Listener, error) { return net.Listen("tcp", addr) })
		if err != nil {
			t.Fatalf("listening on %s in %s: %v", addr, b.Name, err)
		}
		defer l.Close()
		served := make(chan error, 1)
		go func() { served <- writePeer(l) }()
		peer, err := inNetns(a.Name, func() ([]byte, error) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return nil, err
			}
			defer c.Close()
			return io.ReadAll(c)
		})
		if err != nil {
			t.Fatalf("dialing %s from %s: %v", addr, a.Name, err)
		}
		if err := <-served; err != nil {
			t.Fatalf("serving %s: %v", addr, err)
		}
		want := ea.IPv4.Addr()
		if server.Is6() {
			want = ea.IPv6.Addr()
		}
		if string(peer) != want.String() {
			t.Errorf("server at %s saw peer %s, want %s", addr, peer, want)
		}
	}
}

// inNetns runs f on a new goroutine in the named namespace; the goroutine's
// thread ends with it.
func inNetns[T any](name string, f func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		if err := EnterNetns(name); err != nil {
			done <- result{err: err}
			return
		}
		v, err := f()
		done <- result{v, err}
	}()
	r := <-done
	return r.v, r.err
}

// writePeer accepts one connection and writes the peer's address to it.
func writePeer(l net.Listener) error {
	c, err := l.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = io.WriteString(c, c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().String())
	return err
}
