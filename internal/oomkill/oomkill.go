// Package oomkill counts OOM kills in the kernel per cgroup v2 id of the
// victim (bpf/oomkill/oom.bpf.c, tp_btf/mark_victim; needs kernel BTF), for
// every exporter that reports them.
//
// LoadOOM returns the collection spec; load it with bpfload.Load into
// OOMObjects, whose OomCounts map holds maps.CounterKey rows (event
// EventKill) read by maps.ReadCounters, and whose LostEvents
// map holds the program's lost-event counters (maps.ReadLost).
package oomkill

// EventKill is the counter_key.event of an OOM kill.
const EventKill = uint32(OOMOomEventEV_OOM_KILL)

// One bpf2go run; the generated bindings and object are committed so that
// building needs no clang. `make generate` reruns it.
//go:generate go tool bpf2go -tags linux -target bpfel -type oom_event OOM ../../bpf/oomkill/oom.bpf.c -- -I../../bpf/include
