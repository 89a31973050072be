package series

import (
	"runtime/debug"

	"github.com/bpfleet/bpfleet/internal/catalog"
	"github.com/bpfleet/bpfleet/internal/shrink"
)

// compaction is the peak size of each of an Attributor's long-lived tables
// (keys gone, cap keys, each metric's known series) since the table was
// made. A Go map never shrinks: after thousands of workloads came and went,
// their tables would keep the memory of every row they ever held, and the
// few long-lived rows among freed ones would keep whole spans of the heap
// in use. compact rebuilds a table once a quarter or less of its peak
// remains (shrink.Due).
type compaction struct {
	gone, capKeys int
	known         map[*catalog.Metric]int
}

// compact rebuilds the tables that shrank to a quarter of their peak or
// less, keeping exactly their rows, and gives the freed memory back to the
// kernel when it rebuilt one. The caller holds a.mu.
func (a *Attributor[K]) compact() {
	c := &a.compaction
	var rebuilt bool
	a.goneSince = shrunk(a.goneSince, &c.gone, &rebuilt)
	a.capKeys = shrunk(a.capKeys, &c.capKeys, &rebuilt)
	if c.known == nil {
		c.known = make(map[*catalog.Metric]int)
	}
	for m, byKey := range a.known {
		peak := c.known[m]
		a.known[m] = shrunk(byKey, &peak, &rebuilt)
		c.known[m] = peak
	}
	for m := range c.known {
		if _, ok := a.known[m]; !ok {
			delete(c.known, m) // forgotten by Begin: a new table next time
		}
	}
	if rebuilt {
		// The old tables, and the spans they held, are free now: return
		// them to the kernel at once rather than over minutes.
		debug.FreeOSMemory()
	}
}

// shrunk returns m, or a copy of it sized for its rows when it holds a
// quarter or less of its peak (*peak, updated), setting *rebuilt.
func shrunk[K comparable, V any](m map[K]V, peak *int, rebuilt *bool) map[K]V {
	*peak = max(*peak, len(m))
	if !shrink.Due(len(m), *peak) {
		return m
	}
	fresh := make(map[K]V, len(m))
	for k, v := range m {
		fresh[k] = v
	}
	*peak = len(fresh)
	*rebuilt = true
	return fresh
}
