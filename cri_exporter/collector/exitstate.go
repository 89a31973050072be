package collector

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// exitState is what the cri collector remembers between listings: which
// containers' exits it has counted, the exits by key and reason, and each
// key's latest exit. It is not safe for concurrent use.
//
// The exits of the containers in the first listing are not counted, only
// remembered (as the latest exit codes): they happened before the
// exporter started, and a restarted exporter would count them again.
type exitState struct {
	primed   bool                       // a listing has been recorded
	counted  map[string]time.Time       // exited container ids → last listed
	exits    map[exitKey]float64        // cri_container_exits_total
	lastExit map[containerKey]exit      // cri_container_last_exit_code
	keySeen  map[containerKey]time.Time // last time a container of the key was listed or exited
}

type exitKey struct {
	containerKey
	reason string
}

func newExitState() *exitState {
	return &exitState{
		counted:  map[string]time.Time{},
		exits:    map[exitKey]float64{},
		lastExit: map[containerKey]exit{},
		keySeen:  map[containerKey]time.Time{},
	}
}

// seenExit reports whether the exit of container id is already recorded.
func (s *exitState) seenExit(id string) bool {
	_, ok := s.counted[id]
	return ok
}

// exited records container id's exit e, once: a second call for the same
// id does nothing. The exit is counted unless it came with the first
// listing.
func (s *exitState) exited(id string, k containerKey, e exit) {
	if s.seenExit(id) {
		return
	}
	now := time.Now()
	s.counted[id] = now
	s.keySeen[k] = now
	if s.primed {
		s.exits[exitKey{k, e.reason}]++
	}
	if last, ok := s.lastExit[k]; !ok || !e.finished.Before(last.finished) {
		s.lastExit[k] = e
	}
}

// listed records a listing made at now: the keys of its containers live
// on, and what was not listed for grace is forgotten. An exited container
// id is kept for grace after its last listing, so that an event and a
// listing of the same exit never both count it.
func (s *exitState) listed(now time.Time, keys map[string]containerKey) {
	s.primed = true
	for id, k := range keys {
		s.keySeen[k] = now
		if _, ok := s.counted[id]; ok {
			s.counted[id] = now
		}
	}
	for id, seen := range s.counted {
		if now.Sub(seen) > grace {
			delete(s.counted, id)
		}
	}
	for k, seen := range s.keySeen {
		if now.Sub(seen) <= grace {
			continue
		}
		delete(s.keySeen, k)
		delete(s.lastExit, k)
		for _, r := range exitReasons {
			delete(s.exits, exitKey{k, r})
		}
	}
}

// emit serves the exit counters and latest exit codes.
func (s *exitState) emit(ch chan<- prometheus.Metric) {
	for k, n := range s.exits {
		ch <- prometheus.MustNewConstMetric(containerExitsDesc, prometheus.CounterValue, n, append(k.values(), k.reason)...)
	}
	for k, e := range s.lastExit {
		ch <- prometheus.MustNewConstMetric(containerLastExitCodeDesc, prometheus.GaugeValue, float64(e.code), k.values()...)
	}
}
