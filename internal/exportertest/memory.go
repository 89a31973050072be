package exportertest

import (
	"fmt"
	"os"
	"testing"

	"github.com/cilium/ebpf"
)

// MapMemory is one BPF map an exporter holds, as /proc/<pid>/fdinfo reports
// it: Memlock is the kernel's own account of the map's memory on this host
// (map_mem_usage), at its present fill.
type MapMemory struct {
	ID                             ebpf.MapID
	Name                           string
	Type                           ebpf.MapType
	KeySize, ValueSize, MaxEntries uint64
	Flags                          uint64
	Memlock                        uint64
	Rows                           uint64 // rows in the map when read
}

const noPrealloc = 1 // BPF_F_NO_PREALLOC

// lockBytes is the per-CPU lock array of every hash map:
// sizeof(int) * HASHTAB_MAP_LOCK_COUNT.
const lockBytes = 4 * 8

// htabElem approximates sizeof(struct htab_elem) on 64-bit kernels.
const htabElem = 48

func round8(n uint64) uint64 { return (n + 7) &^ 7 }

// At returns the map's kernel memory on a host with cpus possible CPUs
// when every row is used: Memlock, measured on this host with hostCPUs
// possible CPUs, plus what the kernel's map_mem_usage adds per further CPU
// (per-CPU values of every row, hash lock arrays, a preallocated hash map's
// spare element per CPU), plus, for a map that is not preallocated, the
// rows it does not hold yet. The per-CPU terms are exact; the element
// overhead of rows not yet allocated is approximate (htabElem).
func (m MapMemory) At(cpus, hostCPUs int) uint64 {
	perCPU, full := uint64(0), m.Memlock
	value := round8(m.ValueSize)
	prealloc := m.Flags&noPrealloc == 0
	switch m.Type {
	case ebpf.PerCPUHash, ebpf.LRUCPUHash:
		perCPU = lockBytes + value*m.MaxEntries
		if !prealloc {
			// Measured with some rows; when full, every row has its element and
			// its values on every CPU.
			full = m.Memlock + (htabElem+round8(m.KeySize)+24)*m.MaxEntries + value*m.MaxEntries*uint64(hostCPUs)
		}
	case ebpf.Hash, ebpf.LRUHash:
		perCPU = lockBytes
		if m.Type == ebpf.Hash && prealloc {
			perCPU += htabElem + round8(m.KeySize) + value + 8
		}
		if !prealloc {
			full = m.Memlock + (htabElem+round8(m.KeySize)+value+8)*m.MaxEntries
		}
	case ebpf.PerCPUArray:
		perCPU = value * m.MaxEntries
	}
	return uint64(int64(full) + (int64(cpus)-int64(hostCPUs))*int64(perCPU))
}

// Used returns the map's kernel memory on a host with cpus possible CPUs
// with the rows it holds now: for a map that allocates rows on use, what
// its present workloads cost there; for a preallocated one, the same as At.
func (m MapMemory) Used(cpus, hostCPUs int) uint64 {
	if m.Flags&noPrealloc == 0 || (m.Type != ebpf.PerCPUHash && m.Type != ebpf.LRUCPUHash) {
		return m.At(cpus, hostCPUs)
	}
	perCPU := lockBytes + round8(m.ValueSize)*m.Rows
	return uint64(int64(m.Memlock) + (int64(cpus)-int64(hostCPUs))*int64(perCPU))
}

// HeldMaps returns the BPF maps pid holds (HeldBPF), each as the kernel
// describes it to a holder of the map (BPF_OBJ_GET_INFO_BY_FD and its
// fdinfo memlock), with its rows counted.
func HeldMaps(pid int) ([]MapMemory, error) {
	held, err := HeldBPF(pid)
	if err != nil {
		return nil, err
	}
	var out []MapMemory
	for id := range held.Maps {
		mp, err := ebpf.NewMapFromID(id)
		if err != nil {
			continue // freed since
		}
		info, err := mp.Info()
		if err != nil {
			mp.Close()
			return nil, fmt.Errorf("map %d: %w", id, err)
		}
		memlock, _ := info.Memlock()
		out = append(out, MapMemory{ID: id, Name: info.Name, Type: info.Type, KeySize: uint64(info.KeySize),
			ValueSize: uint64(info.ValueSize), MaxEntries: uint64(info.MaxEntries), Flags: uint64(info.Flags),
			Memlock: memlock, Rows: countRows(mp)})
		mp.Close()
	}
	return out, nil
}

// countRows counts the keys of a hash map (0 for other kinds).
func countRows(m *ebpf.Map) uint64 {
	if m.KeySize() == 0 || m.Type() == ebpf.RingBuf {
		return 0
	}
	var n uint64
	var prev any
	for {
		key := make([]byte, m.KeySize())
		if err := m.NextKey(prev, &key); err != nil {
			return n
		}
		n++
		prev = key
	}
}

// ReportMapMemory reports, as benchmark metrics, the kernel memory of the
// BPF maps pid holds at 2, 16, 96 and 256 possible CPUs (MapMemory.At),
// and logs each map's share at 256.
func ReportMapMemory(b *testing.B, pid int) {
	b.Helper()
	held, err := HeldMaps(pid)
	if err != nil {
		b.Fatal(err)
	}
	host, err := ebpf.PossibleCPU()
	if err != nil {
		b.Fatal(err)
	}
	for _, cpus := range []int{2, 16, 96, 256} {
		var full, used uint64
		for _, m := range held {
			full += m.At(cpus, host)
			used += m.Used(cpus, host)
		}
		b.ReportMetric(float64(full)/(1<<20), fmt.Sprintf("MiB-full@%dcpu", cpus))
		b.ReportMetric(float64(used)/(1<<20), fmt.Sprintf("MiB-used@%dcpu", cpus))
	}
	for _, m := range held {
		b.Logf("%-16s %-14s max %7d rows %6d value %3d flags %#x: %8.2f MiB here; at 256 CPUs %8.2f MiB full, %8.2f MiB with these rows",
			m.Name, m.Type, m.MaxEntries, m.Rows, m.ValueSize, m.Flags, float64(m.Memlock)/(1<<20),
			float64(m.At(256, host))/(1<<20), float64(m.Used(256, host))/(1<<20))
	}
}

// DESIGN.md's bound on an exporter's BPF map memory at its defaults:
// MapMemoryBound bytes on a host of MapMemoryBoundCPUs possible CPUs, with
// every row of every map used.
const (
	MapMemoryBound     = 64 << 20
	MapMemoryBoundCPUs = 256
)

// CheckMapMemoryBound starts binary with args (its defaults, plus what it
// needs to come up on this host), waits until every collector is up, and
// fails the test when the maps it holds, full (MapMemory.At), would take
// more than MapMemoryBound on a host of MapMemoryBoundCPUs possible CPUs.
func CheckMapMemoryBound(t *testing.T, binary, namespace string, args ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loading BPF programs needs root")
	}
	p := Start(t, binary, args...)
	WaitCollectorsUp(t, p, namespace)
	held, err := HeldMaps(p.Pid())
	if err != nil {
		t.Fatal(err)
	}
	host, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	var total uint64
	for _, m := range held {
		total += m.At(MapMemoryBoundCPUs, host)
	}
	if total > MapMemoryBound {
		for _, m := range held {
			t.Logf("%-16s %-14s max %7d value %3d flags %#x: %8.2f MiB at %d CPUs",
				m.Name, m.Type, m.MaxEntries, m.ValueSize, m.Flags, float64(m.At(MapMemoryBoundCPUs, host))/(1<<20), MapMemoryBoundCPUs)
		}
		t.Errorf("%d BPF maps take %.1f MiB at %d possible CPUs, over the bound of %d MiB",
			len(held), float64(total)/(1<<20), MapMemoryBoundCPUs, MapMemoryBound>>20)
	}
}

// WaitCollectorsUp waits until every <namespace>_scrape_collector_success
// series the exporter serves is 1.
func WaitCollectorsUp(tb testing.TB, p *Process, namespace string) {
	tb.Helper()
	name := namespace + "_scrape_collector_success"
	Eventually(tb, func() error {
		fams, err := p.Scrape()
		if err != nil {
			return err
		}
		got := ByLabel(fams, name, "collector")
		if len(got) == 0 {
			return fmt.Errorf("no %s served", name)
		}
		for c, v := range got {
			if v != 1 {
				return fmt.Errorf("%s{collector=%q} = %v", name, c, v)
			}
		}
		return nil
	})
}

// MapMemoryBenchmark is an exporter's BenchmarkMapMemory: it starts binary
// with args (its defaults, plus what it needs to come up on this host), waits
// until every collector is up and reports ReportMapMemory once per round.
func MapMemoryBenchmark(b *testing.B, binary, namespace string, args ...string) {
	b.Helper()
	if os.Geteuid() != 0 {
		b.Skip("loading BPF programs needs root")
	}
	for b.Loop() {
		p := Start(b, binary, args...)
		WaitCollectorsUp(b, p, namespace)
		ReportMapMemory(b, p.Pid())
	}
}
