package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// netnsDir holds the bind mounts of named network namespaces (ip netns).
const netnsDir = "/run/netns"

// Netns is a named network namespace made with `ip netns add`, with its
// loopback up. Tests put workloads in it with EnterNetns and link it to
// others with NewVeth. A Netns is not safe for concurrent use.
type Netns struct {
	Name string // bpfleet-<random>, under /run/netns
	// subnets is how many veth subnets have an end here: the next pair
	// touching this namespace takes a higher one.
	subnets int
}

// NewNetns makes a network namespace with its loopback up and deletes it
// when the test ends. It skips the test without root or iproute2.
func NewNetns(tb testing.TB) *Netns {
	tb.Helper()
	requireTool(tb, "ip")
	n := &Netns{Name: fmt.Sprintf("bpfleet-%08x", rand.Uint32())}
	runCmd(tb, "", "ip", "netns", "add", n.Name)
	tb.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", n.Name).CombinedOutput(); err != nil {
			tb.Errorf("deleting network namespace %s: %v: %s", n.Name, err, out)
		}
	})
	n.Run(tb, "ip", "link", "set", "lo", "up")
	return n
}

// Path returns the namespace's bind mount, which setns(2) accepts.
func (n *Netns) Path() string { return filepath.Join(netnsDir, n.Name) }

// Run runs a command inside the namespace (ip netns exec), failing the test
// with the command's output when it fails.
func (n *Netns) Run(tb testing.TB, args ...string) {
	tb.Helper()
	runCmd(tb, "", append([]string{"ip", "netns", "exec", n.Name}, args...)...)
}

// Nft loads an nftables ruleset (nft -f syntax) into the namespace. It skips
// the test when nft is not installed.
func (n *Netns) Nft(tb testing.TB, ruleset string) {
	tb.Helper()
	requireTool(tb, "nft")
	runCmd(tb, ruleset, "ip", "netns", "exec", n.Name, "nft", "-f", "-")
}

// VethEnd is one end of a veth pair: an interface in Netns, up, with an
// IPv4 address in the RFC 2544 benchmarking range 198.18.0.0/15 and an IPv6
// address in the documentation prefix 2001:db8::/32 (without duplicate
// address detection, so usable at once).
type VethEnd struct {
	Netns *Netns
	Name  string
	MAC   net.HardwareAddr // locally administered: 02:62:66:00:<subnet>:01 on a's end, :02 on b's
	IPv4  netip.Prefix     // 198.18.<subnet>.1/24 on a's end, .2/24 on b's
	IPv6  netip.Prefix     // 2001:db8:0:<subnet>::1/64 on a's end, ::2/64 on b's
}

// NewVeth links namespaces a and b with a veth pair and returns its ends in
// a and in b. Each pair gets its own /24 and /64, distinct from those of
// every other pair made with NewVeth in either namespace. Each end has a
// permanent neighbor entry for its peer's addresses: without ARP and
// neighbor discovery, which can take a second on a fresh link, the first
// packet leaves at once. Deleting either namespace removes the pair.
func NewVeth(tb testing.TB, a, b *Netns) (VethEnd, VethEnd) {
	tb.Helper()
	subnet := max(a.subnets, b.subnets)
	if subnet > 255 {
		tb.Fatal("no veth subnet left in 198.18.0.0/16")
	}
	a.subnets, b.subnets = subnet+1, subnet+1
	ea := vethEnd(a, subnet, 1)
	eb := vethEnd(b, subnet, 2)
	runCmd(tb, "", "ip", "link", "add", ea.Name, "address", ea.MAC.String(), "netns", a.Name, "type", "veth",
		"peer", "name", eb.Name, "address", eb.MAC.String(), "netns", b.Name)
	for _, e := range [][2]VethEnd{{ea, eb}, {eb, ea}} {
		e[0].configure(tb, e[1])
	}
	return ea, eb
}

func vethEnd(n *Netns, subnet, host int) VethEnd {
	return VethEnd{
		Netns: n,
		Name:  fmt.Sprintf("veth%d%c", subnet, 'a'+host-1),
		MAC:   net.HardwareAddr{0x02, 0x62, 0x66, 0, byte(subnet), byte(host)},
		IPv4:  netip.MustParsePrefix(fmt.Sprintf("198.18.%d.%d/24", subnet, host)),
		IPv6:  netip.MustParsePrefix(fmt.Sprintf("2001:db8:0:%x::%d/64", subnet, host)),
	}
}

// configure addresses the end, sets it up and adds its peer's neighbors.
func (e VethEnd) configure(tb testing.TB, peer VethEnd) {
	tb.Helper()
	e.Netns.Run(tb, "ip", "addr", "add", e.IPv4.String(), "dev", e.Name)
	e.Netns.Run(tb, "ip", "-6", "addr", "add", e.IPv6.String(), "dev", e.Name, "nodad")
	e.Netns.Run(tb, "ip", "link", "set", e.Name, "up")
	for _, addr := range []netip.Addr{peer.IPv4.Addr(), peer.IPv6.Addr()} {
		e.Netns.Run(tb, "ip", "neigh", "add", addr.String(), "lladdr", peer.MAC.String(),
			"dev", e.Name, "nud", "permanent")
	}
}

// EnterNetns moves the calling goroutine's thread into the named network
// namespace and locks the goroutine to that thread for the rest of its life
// (a goroutine that exits locked takes its thread with it). Only sockets
// that this goroutine creates live in the namespace: other goroutines run
// on threads still in the process's original one, though they may use
// those sockets. For workloads (see Main), which have no testing.TB.
func EnterNetns(name string) error {
	f, err := os.Open(filepath.Join(netnsDir, name))
	if err != nil {
		return fmt.Errorf("opening network namespace: %w", err)
	}
	defer f.Close()
	runtime.LockOSThread()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread() // still in the original namespace
		return fmt.Errorf("entering network namespace %s: %w", name, err)
	}
	return nil
}

// requireTool skips the test when the command is not installed.
func requireTool(tb testing.TB, name string) {
	tb.Helper()
	RequireRoot(tb)
	if _, err := exec.LookPath(name); err != nil {
		tb.Skipf("needs %s: %v", name, err)
	}
}

// runCmd runs args with stdin, failing the test with its output on error.
func runCmd(tb testing.TB, stdin string, args ...string) {
	tb.Helper()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
}
