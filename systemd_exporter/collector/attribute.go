package collector

import (
	"sync"
	"time"

	"github.com/bpfleet/bpfleet/internal/maps"
)

// unitAttributor turns a kernel counter map's rows (cgroup v2 id, event)
// into per-unit counts. Rows under maps.OverflowID (a full map's folded
// events) are no cgroup's: they are left out, never resolved nor deleted.
// A cgroup's path comes from the workload resolver (which learns every cgroup when it is made, so that a unit living shorter
// than a scrape keeps its counts) and is named by unitFromCgroup; one whose
// path is unknown, or that is no unit's, is dead: its rows are deleted from
// the kernel map.
// The rows of a cgroup gone for goneGrace are deleted from the map and their
// counts kept in user space under their unit, whose series lives while the
// unit has a counted cgroup or for goneGrace after. Used by one scrape at a
// time.
type unitAttributor struct {
	lookup func(id uint64) (path string, alive bool)
	now    func() time.Time

	mu        sync.Mutex
	units     map[uint64]string    // cgroup id → unit, once found
	notUnits  map[uint64]bool      // cgroups found that are no unit's
	paths     map[uint64]string    // cgroup id → its path, once found
	gone      map[uint64]time.Time // counted cgroups no longer in the tree
	retired   map[[2]string]float64
	unitSince map[string]time.Time // units without live cgroups, since when
}

// newUnitAttributor returns an attributor whose cgroup paths come from
// lookup (a workload.Resolver's Lookup).
func newUnitAttributor(lookup func(id uint64) (path string, alive bool)) *unitAttributor {
	return &unitAttributor{lookup: lookup, now: time.Now,
		units: map[uint64]string{}, notUnits: map[uint64]bool{}, paths: map[uint64]string{}, gone: map[uint64]time.Time{},
		retired: map[[2]string]float64{}, unitSince: map[string]time.Time{}}
}

// attribute returns the counts of rows per unit and label (label gives the
// label of an event; false leaves the row out), the rows to delete from the
// kernel map, and the units whose series are gone.
func (a *unitAttributor) attribute(rows map[maps.CounterKey]uint64, label func(event uint32) (string, bool)) (counts map[[2]string]float64, del []maps.CounterKey, goneUnits []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	found := a.resolve(rows)
	ids := map[uint64]bool{}
	for k := range rows {
		if !maps.IsOverflow(k.ID) {
			ids[k.ID] = true
		}
	}
	for id := range a.notUnits {
		if !ids[id] {
			delete(a.notUnits, id) // its rows are deleted; found again if it counts again
		}
	}
	for k := range rows {
		if maps.IsOverflow(k.ID) {
			continue
		}
		if _, ok := a.units[k.ID]; !ok && (a.notUnits[k.ID] || !found[k.ID]) {
			del = append(del, k) // no unit's, or gone before it was found
		}
	}
	now := a.now()
	counts = map[[2]string]float64{}
	for k, n := range a.retired {
		counts[k] += n
	}
	live := map[string]bool{}
	state := map[uint64]int{} // 0 live, 1 reaped
	for id := range a.units {
		if a.exists(id) {
			delete(a.gone, id)
			live[a.units[id]] = true
			continue
		}
		since, ok := a.gone[id]
		if !ok {
			a.gone[id] = now
			live[a.units[id]] = true
		} else if now.Sub(since) >= goneGrace {
			state[id] = 1
		} else {
			live[a.units[id]] = true
		}
	}
	for k, n := range rows {
		unit, ok := a.units[k.ID]
		if !ok {
			continue
		}
		l, ok := label(k.Event)
		if !ok {
			continue
		}
		key := [2]string{unit, l}
		counts[key] += float64(n)
		if state[k.ID] == 1 {
			a.retired[key] += float64(n)
			del = append(del, k)
		}
	}
	for id, s := range state {
		if s == 1 {
			delete(a.units, id)
			delete(a.paths, id)
			delete(a.gone, id)
		}
	}
	retiredUnits := map[string]bool{}
	for k := range a.retired {
		retiredUnits[k[0]] = true
	}
	for unit := range retiredUnits {
		if live[unit] {
			delete(a.unitSince, unit)
			continue
		}
		if since, ok := a.unitSince[unit]; !ok {
			a.unitSince[unit] = now
		} else if now.Sub(since) >= goneGrace {
			for k := range a.retired {
				if k[0] == unit {
					delete(a.retired, k)
					delete(counts, k)
				}
			}
			delete(a.unitSince, unit)
			goneUnits = append(goneUnits, unit)
		}
	}
	return counts, del, goneUnits
}

// resolve finds the cgroups of rows not known yet and returns which ids it
// has found.
func (a *unitAttributor) resolve(rows map[maps.CounterKey]uint64) map[uint64]bool {
	unknown := map[uint64]bool{}
	for k := range rows {
		if maps.IsOverflow(k.ID) {
			continue
		}
		if _, ok := a.units[k.ID]; !ok && !a.notUnits[k.ID] {
			unknown[k.ID] = true
		}
	}
	found := map[uint64]bool{}
	if len(unknown) == 0 {
		return found
	}
	for id := range unknown {
		p, _ := a.lookup(id)
		if p == "" {
			continue // gone before it was ever seen
		}
		found[id] = true
		if unit, ok := unitFromCgroup(p); ok {
			a.units[id] = unit
			a.paths[id] = p
		} else {
			a.notUnits[id] = true
		}
	}
	return found
}

// learn resolves the cgroups of rows between scrapes, so that a unit whose
// cgroup lives shorter than a scrape interval keeps its counts.
func (a *unitAttributor) learn(rows map[maps.CounterKey]uint64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.resolve(rows)
}

// exists reports whether the cgroup id is still alive.
func (a *unitAttributor) exists(id uint64) bool {
	_, alive := a.lookup(id)
	return alive
}
