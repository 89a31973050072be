package collector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// ipamConfig is the ipam collector's flags.
type ipamConfig struct {
	DataDir string // host-local's default data directory
	ConfDir string // CNI network configurations
	RootFS  string // where the host's / is: dataDir paths of configurations are read under it
}

// dataDirs are where host-local's data directories are, as the exporter
// sees them: def for a configuration that names none, and rootfs, the
// host's root as mounted in the exporter's file system, under which a
// configuration's own ipam.dataDir (a host path) is read.
type dataDirs struct {
	def, rootfs string
}

// of returns the data directory of a configuration whose ipam.dataDir is
// own.
func (d dataDirs) of(own string) string {
	if own == "" {
		return d.def
	}
	return filepath.Join(d.rootfs, own)
}

// ipamCollector reads the host-local ranges from the CNI configuration
// directory and the allocations from host-local's data directories at
// each scrape.
type ipamCollector struct {
	cfg                 ipamConfig
	allocated, capacity *prometheus.Desc
}

func newIPAM(cfg ipamConfig) *ipamCollector {
	return &ipamCollector{cfg: cfg, allocated: ipamAllocated.Desc(), capacity: ipamCapacity.Desc()}
}

// Update serves every range of every parseable network; a configuration
// file that cannot be read or parsed fails the scrape after the others are
// served.
func (c *ipamCollector) Update(_ context.Context, ch chan<- prometheus.Metric) error {
	ranges, cfgErr := loadRanges(c.cfg.ConfDir, dataDirs{c.cfg.DataDir, c.cfg.RootFS})
	allocated, err := countAllocations(ranges)
	if err != nil {
		return errors.Join(cfgErr, err)
	}
	for i, r := range ranges {
		ch <- prometheus.MustNewConstMetric(c.allocated, prometheus.GaugeValue, float64(allocated[i]), r.network, r.label)
		ch <- prometheus.MustNewConstMetric(c.capacity, prometheus.GaugeValue, r.capacity(), r.network, r.label)
	}
	return cfgErr
}

// hostLocalRange is one range of a host-local IPAM configuration,
// canonicalized as host-local does.
type hostLocalRange struct {
	network string // the network's name
	label   string // the subnet, or start-end when either bound is set
	dataDir string // host-local's data directory (without the network)
	start   netip.Addr
	end     netip.Addr
	gateway netip.Addr
}

// contains reports whether a lies in [start, end].
func (r hostLocalRange) contains(a netip.Addr) bool {
	return a.BitLen() == r.start.BitLen() && a.Compare(r.start) >= 0 && a.Compare(r.end) <= 0
}

// capacity is the number of addresses host-local hands out: every one from
// start to end, less the gateway, which its iterator skips.
func (r hostLocalRange) capacity() float64 {
	n := new(big.Int).Sub(addrInt(r.end), addrInt(r.start))
	n.Add(n, big.NewInt(1))
	if r.contains(r.gateway) {
		n.Sub(n, big.NewInt(1))
	}
	f, _ := n.Float64()
	return f
}

func addrInt(a netip.Addr) *big.Int {
	b := a.AsSlice()
	return new(big.Int).SetBytes(b)
}

// netConf is what the collector reads of a CNI network configuration
// (.conf) or network configuration list (.conflist).
type netConf struct {
	Name    string       `json:"name"`
	IPAM    *ipamConf    `json:"ipam"`
	Plugins []pluginConf `json:"plugins"`
}

type pluginConf struct {
	IPAM *ipamConf `json:"ipam"`
}

// ipamConf is host-local's configuration: range sets, or the older single
// range inline.
type ipamConf struct {
	Type    string        `json:"type"`
	DataDir string        `json:"dataDir"`
	Ranges  [][]rangeConf `json:"ranges"`
	rangeConf
}

type rangeConf struct {
	Subnet     string `json:"subnet"`
	RangeStart string `json:"rangeStart"`
	RangeEnd   string `json:"rangeEnd"`
	Gateway    string `json:"gateway"`
}

// loadRanges returns the host-local ranges of the network configurations
// in confDir, in file name order as libcni reads them; of two files with
// the same network name the first wins. Unparseable files are skipped and
// reported in the error.
func loadRanges(confDir string, dirs dataDirs) ([]hostLocalRange, error) {
	var files []string
	for _, ext := range []string{"*.conf", "*.conflist", "*.json"} {
		m, err := filepath.Glob(filepath.Join(confDir, ext))
		if err != nil {
			return nil, err
		}
		files = append(files, m...)
	}
	slices.Sort(files)
	var ranges []hostLocalRange
	var errs []error
	seen := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("reading CNI configuration: %w", err))
			continue
		}
		name, rs, err := parseNetConf(data, dirs)
		if err != nil {
			errs = append(errs, fmt.Errorf("CNI configuration %s: %w", f, err))
			continue
		}
		if !seen[name] {
			seen[name] = true
			ranges = append(ranges, rs...)
		}
	}
	return ranges, errors.Join(errs...)
}

// parseNetConf returns a network configuration's name and host-local
// ranges (none when it uses another IPAM plugin).
func parseNetConf(data []byte, dirs dataDirs) (string, []hostLocalRange, error) {
	var conf netConf
	if err := json.Unmarshal(data, &conf); err != nil {
		return "", nil, err
	}
	if conf.Name == "" {
		return "", nil, errors.New("no network name")
	}
	ipams := []*ipamConf{conf.IPAM}
	for _, p := range conf.Plugins {
		ipams = append(ipams, p.IPAM)
	}
	var out []hostLocalRange
	labels := map[string]bool{}
	for _, ipam := range ipams {
		if ipam == nil || ipam.Type != "host-local" {
			continue
		}
		rs, err := ipam.ranges(conf.Name, dirs)
		if err != nil {
			return "", nil, err
		}
		for _, r := range rs {
			if !labels[r.label] {
				labels[r.label] = true
				out = append(out, r)
			}
		}
	}
	return conf.Name, out, nil
}

// ranges canonicalizes the ranges of one host-local configuration: the
// inline range first, as host-local puts it, then each range set's.
func (c *ipamConf) ranges(network string, dirs dataDirs) ([]hostLocalRange, error) {
	dataDir := dirs.of(c.DataDir)
	confs := slices.Concat(c.Ranges...)
	if c.Subnet != "" {
		confs = append([]rangeConf{c.rangeConf}, confs...)
	}
	out := make([]hostLocalRange, 0, len(confs))
	for _, rc := range confs {
		r, err := rc.canonicalize()
		if err != nil {
			return nil, err
		}
		r.network, r.dataDir = network, dataDir
		out = append(out, r)
	}
	return out, nil
}

// canonicalize applies host-local's defaults (Range.Canonicalize): the
// gateway and the start are the subnet's first address after the network
// address, the end its last address (before the broadcast address in
// IPv4).
func (rc rangeConf) canonicalize() (hostLocalRange, error) {
	subnet, err := netip.ParsePrefix(rc.Subnet)
	if err != nil {
		return hostLocalRange{}, fmt.Errorf("range subnet: %w", err)
	}
	if subnet != subnet.Masked() {
		return hostLocalRange{}, fmt.Errorf("range subnet %s has host bits set", subnet)
	}
	if subnet.Bits() > subnet.Addr().BitLen()-2 {
		return hostLocalRange{}, fmt.Errorf("range subnet %s too small to allocate from", subnet)
	}
	first := subnet.Addr().Next()
	r := hostLocalRange{label: subnet.String(), start: first, end: lastAddr(subnet), gateway: first}
	for _, f := range []struct {
		s    string
		addr *netip.Addr
	}{{rc.RangeStart, &r.start}, {rc.RangeEnd, &r.end}, {rc.Gateway, &r.gateway}} {
		if f.s == "" {
			continue
		}
		a, err := netip.ParseAddr(f.s)
		if err != nil {
			return hostLocalRange{}, err
		}
		*f.addr = a.Unmap()
	}
	if !subnet.Contains(r.start) || !subnet.Contains(r.end) || r.start.Compare(r.end) > 0 {
		return hostLocalRange{}, fmt.Errorf("range %s-%s not within %s", r.start, r.end, subnet)
	}
	if rc.RangeStart != "" || rc.RangeEnd != "" {
		r.label = r.start.String() + "-" + r.end.String()
	}
	return r, nil
}

// lastAddr is the last address of p, less one in IPv4 (the broadcast).
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := range b {
		bit := p.Bits() - 8*i
		switch {
		case bit <= 0:
			b[i] = 0xff
		case bit < 8:
			b[i] |= 0xff >> bit
		}
	}
	a, _ := netip.AddrFromSlice(b)
	if a.Is4() {
		a = a.Prev()
	}
	return a
}

// countAllocations counts, for each of ranges, the addresses of its
// network's host-local data directory that fall in it. Files that are not
// addresses (lock, last_reserved_ip.N) are not counted; a missing
// directory has no allocations.
func countAllocations(ranges []hostLocalRange) ([]int, error) {
	counts := make([]int, len(ranges))
	listed := map[string][]netip.Addr{}
	for i, r := range ranges {
		dir := filepath.Join(r.dataDir, r.network)
		addrs, ok := listed[dir]
		if !ok {
			var err error
			if addrs, err = allocatedAddrs(dir); err != nil {
				return nil, err
			}
			listed[dir] = addrs
		}
		for _, a := range addrs {
			if r.contains(a) {
				counts[i]++
			}
		}
	}
	return counts, nil
}

func allocatedAddrs(dir string) ([]netip.Addr, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing host-local allocations: %w", err)
	}
	var addrs []netip.Addr
	for _, e := range entries {
		if a, err := netip.ParseAddr(e.Name()); err == nil && e.Type().IsRegular() {
			addrs = append(addrs, a.Unmap())
		}
	}
	return addrs, nil
}
