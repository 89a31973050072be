//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * floor: the least a program that counts events must do, for the hook
 * benchmarks (internal/hookbench). Each variant adds one to a counter:
 *
 *   floor_percpu   one slot of a per-CPU array, plain add;
 *   floor_shared   one slot of a shared array, atomic add;
 *   floor_hash     the row of the current cgroup v2 id in a small shared
 *                  hash, atomic add (counter_add_row of bpfleet/maps.h, the
 *                  update of every per-workload counter, on a map of few
 *                  rows);
 *   floor_storage  the current task's cgroup's own storage
 *                  (BPF_MAP_TYPE_CGRP_STORAGE, kernel 6.2), atomic add: a
 *                  count per cgroup reached through the cgroup, without a
 *                  hash lookup.
 *   floor_slot     the current cgroup v2 id's slot in a per-CPU,
 *                  direct-mapped table (slot id & 1023, one 64-byte cache
 *                  line each), plain add: a count per cgroup that every CPU
 *                  keeps in its own line, no lock, no hash. A free slot is
 *                  claimed; an id whose slot another id holds falls back to
 *                  floor_hash's update, in floor_hash's map.
 *
 * hookbench loads each variant once per hook a benchmark measures,
 * retargeted to that hook: the tp_btf programs' attach target is set at
 * load time (the section's target here is a placeholder), the tracepoint
 * programs are attached to the hook's tracepoint. The programs read no
 * argument of the hook. All hooks of a benchmark share the maps.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpfleet/maps.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} floor_percpu_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} floor_shared_count SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct counter_key);
	__type(value, __u64);
} floor_hash_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGRP_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} floor_storage_counts SEC(".maps");

#define FLOOR_SLOTS 1024 /* a power of two: the slot is id & (FLOOR_SLOTS - 1) */

/* One slot: one cache line, the id that holds it and its counts. */
struct floor_slot_line {
	__u64 id; /* cgroup v2 id; 0: free */
	__u64 n[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FLOOR_SLOTS);
	__type(key, __u32);
	__type(value, struct floor_slot_line);
} floor_slot_counts SEC(".maps");

static __always_inline void percpu_add(void)
{
	__u32 slot = 0;
	__u64 *v = bpf_map_lookup_elem(&floor_percpu_count, &slot);
	if (v)
		*v += 1;
}

static __always_inline void shared_add(void)
{
	__u32 slot = 0;
	__u64 *v = bpf_map_lookup_elem(&floor_shared_count, &slot);
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline void hash_add(void)
{
	struct counter_key key = { .id = bpf_get_current_cgroup_id() };
	counter_add_row(&floor_hash_counts, &key, 1);
}

static __always_inline void storage_add(void)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 *v = bpf_cgrp_storage_get(&floor_storage_counts, task->cgroups->dfl_cgrp, 0,
					BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline void slot_add(void)
{
	__u64 id = bpf_get_current_cgroup_id();
	__u32 i = id & (FLOOR_SLOTS - 1);
	struct floor_slot_line *s = bpf_map_lookup_elem(&floor_slot_counts, &i);
	if (!s)
		return;
	if (s->id == id) {
		s->n[0] += 1;
		return;
	}
	if (s->id == 0) {
		s->id = id;
		s->n[0] = 1;
		return;
	}
	struct counter_key key = { .id = id };
	counter_add_row(&floor_hash_counts, &key, 1);
}

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_percpu) { percpu_add(); return 0; }

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_shared) { shared_add(); return 0; }

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_hash) { hash_add(); return 0; }

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_storage) { storage_add(); return 0; }

SEC("tp_btf/sched_switch")
int BPF_PROG(floor_slot) { slot_add(); return 0; }

SEC("tracepoint/sched/sched_switch")
int floor_percpu_tp(void *ctx) { percpu_add(); return 0; }

SEC("tracepoint/sched/sched_switch")
int floor_shared_tp(void *ctx) { shared_add(); return 0; }

SEC("tracepoint/sched/sched_switch")
int floor_hash_tp(void *ctx) { hash_add(); return 0; }

SEC("tracepoint/sched/sched_switch")
int floor_storage_tp(void *ctx) { storage_add(); return 0; }

SEC("tracepoint/sched/sched_switch")
int floor_slot_tp(void *ctx) { slot_add(); return 0; }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
