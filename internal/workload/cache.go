package workload

import (
	"runtime/debug"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/bpfleet/bpfleet/internal/shrink"
)

// GoneIdle is how long the cached labels of a removed cgroup are kept after
// the last lookup of them: the series of a removed workload are looked up
// at every scrape until their grace period (series.DefaultGrace, 5 minutes)
// ends and their rows are deleted; past that nothing asks for them. It is
// as long as that grace, so that a scrape interval up to it never finds the
// labels of a removed cgroup forgotten while its rows are still served.
const GoneIdle = 5 * time.Minute

// sweepInterval is the shortest time between two sweeps of the cache.
const sweepInterval = 30 * time.Second

// cache is the Resolver's LRU cache of labels by cgroup id. Unlike a plain
// LRU it forgets removed cgroups once nothing asks for them any more
// (sweep), and rebuilds its table once most of its entries are gone: a Go
// map never shrinks, so a cache that held thousands of short-lived cgroups
// would otherwise keep their table for good. Safe for concurrent use.
type cache struct {
	size int

	mu    sync.Mutex
	lru   *simplelru.LRU[uint64, entry]
	peak  int       // the most entries held since the table was made
	swept time.Time // the last sweep
}

func newCache(size int) (*cache, error) {
	l, err := simplelru.NewLRU[uint64, entry](size, nil)
	if err != nil {
		return nil, err
	}
	return &cache{size: size, lru: l}, nil
}

// Get returns the entry of id and marks it recently used.
func (c *cache) Get(id uint64) (entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Get(id)
}

// Peek returns the entry of id without marking it used.
func (c *cache) Peek(id uint64) (entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Peek(id)
}

// Add sets the entry of id, evicting the least recently used one when full.
func (c *cache) Add(id uint64, e entry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru.Add(id, e)
	c.peak = max(c.peak, c.lru.Len())
}

// Keys returns the cached ids, oldest first.
func (c *cache) Keys() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Keys()
}

// Len returns the number of cached ids.
func (c *cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// Purge forgets every entry, table included.
func (c *cache) Purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lru, _ = simplelru.NewLRU[uint64, entry](c.size, nil)
	c.peak = 0
}

// sweep forgets the removed cgroups not looked up for idle (entry.used),
// at most once per sweepInterval, and rebuilds the table when it holds a
// quarter of its peak or less. It returns the number of entries forgotten
// and whether the table was rebuilt.
func (c *cache) sweep(now time.Time, idle time.Duration) (dropped int, rebuilt bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.swept) < sweepInterval {
		return 0, false
	}
	c.swept = now
	for _, id := range c.lru.Keys() {
		if e, _ := c.lru.Peek(id); e.gone && now.Sub(e.used) >= idle {
			c.lru.Remove(id)
			dropped++
		}
	}
	n := c.lru.Len()
	if !shrink.Due(n, c.peak) {
		return dropped, false
	}
	// A new table with the same entries in the same order (oldest first),
	// so that the old one, and the spans it held, become wholly free.
	fresh, _ := simplelru.NewLRU[uint64, entry](c.size, nil)
	for _, id := range c.lru.Keys() {
		e, _ := c.lru.Peek(id)
		fresh.Add(id, e)
	}
	c.lru = fresh
	c.peak = n
	return dropped, true
}

// sweep forgets removed cgroups that nothing looked up for GoneIdle (see
// cache.sweep); after a large sweep it returns the freed memory to the
// kernel at once rather than over minutes, so that a node's churn does not
// leave the exporter's resident memory high.
// The watcher calls it at every tick, lookups that ask the kernel at most
// once per sweepInterval.
func (r *Resolver) sweep() {
	now := r.now()
	if now.UnixNano() < r.nextSweep.Load() {
		return
	}
	r.nextSweep.Store(now.Add(sweepInterval).UnixNano())
	dropped, rebuilt := r.cache.sweep(now, GoneIdle)
	if dropped == 0 && !rebuilt {
		return
	}
	r.logger.Debug("forgot removed cgroups", "forgotten", dropped, "table_rebuilt", rebuilt, "cached", r.cache.Len())
	if rebuilt || dropped >= shrink.MinPeak {
		debug.FreeOSMemory()
	}
}
