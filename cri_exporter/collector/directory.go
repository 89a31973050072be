package collector

import (
	"sync"
	"time"
)

// containerKey names a container across its restarts, as the kubelet does:
// pod namespace, pod name and container name.
type containerKey struct {
	namespace, pod, container string
}

func (k containerKey) values() []string { return []string{k.namespace, k.pod, k.container} }

// directory maps container ids to their keys. The cri collector fills it
// from every listing; the oom collector reads it. A container the runtime
// no longer lists stays for grace, so that an OOM kill followed at once by
// the container's removal is still attributed. Safe for concurrent use.
type directory struct {
	mu     sync.Mutex
	byID   map[string]listedKey
	byName map[containerKey]time.Time // when a container of the key was last listed
}

type listedKey struct {
	key    containerKey
	listed time.Time
}

func newDirectory() *directory {
	return &directory{byID: map[string]listedKey{}, byName: map[containerKey]time.Time{}}
}

// update records the containers of a listing made at now and forgets those
// not listed since now-grace.
func (d *directory) update(now time.Time, containers map[string]containerKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for id, k := range containers {
		d.byID[id] = listedKey{key: k, listed: now}
		d.byName[k] = now
	}
	for id, l := range d.byID {
		if now.Sub(l.listed) > grace {
			delete(d.byID, id)
		}
	}
	for k, listed := range d.byName {
		if now.Sub(listed) > grace {
			delete(d.byName, k)
		}
	}
}

// key returns the key of container id, if it was listed within grace.
func (d *directory) key(id string) (containerKey, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	l, ok := d.byID[id]
	return l.key, ok
}

// known reports whether a container of key k was listed within grace.
func (d *directory) known(k containerKey) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.byName[k]
	return ok
}
