//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * oom: OOM kills per cgroup v2 id of the victim. mark_victim runs in the
 * context of the task whose allocation triggered the kill, so the victim's
 * cgroup is read from the victim's task_struct, never from current.
 *
 * One kill can mark several threads of the victim: a thread of the dying
 * process that allocates before it exits is marked again
 * (out_of_memory's task_will_free_mem(current) path). oom_victims counts
 * each process once: by thread group id and the group leader's start time,
 * so that a reused pid is a new process.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpfleet/maps.h"
#include "bpfleet/cgroup.h"

enum oom_event {
	EV_OOM_KILL = 0,
};

/* Emits enum oom_event's BTF, so that bpf2go generates it for Go. */
const enum oom_event *unused_oom_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct counter_key);
	__type(value, __u64);
} oom_counts SEC(".maps");
DECLARE_COUNTER_OVERFLOW(oom_counts);

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);   /* tgid */
	__type(value, __u64); /* the group leader's start_time */
} oom_victims SEC(".maps");

DECLARE_LOST_EVENTS;

/* first_mark reports whether task's process was not marked before. */
static __always_inline int first_mark(struct task_struct *task)
{
	__u32 tgid = task->tgid;
	__u64 start = task->group_leader->start_time;
	if (!bpf_map_update_elem(&oom_victims, &tgid, &start, BPF_NOEXIST))
		return 1;
	__u64 *seen = bpf_map_lookup_elem(&oom_victims, &tgid);
	if (seen && *seen == start)
		return 0;
	bpf_map_update_elem(&oom_victims, &tgid, &start, BPF_ANY); /* a reused pid */
	return 1;
}

SEC("tp_btf/mark_victim")
int BPF_PROG(oom_mark_victim, struct task_struct *task)
{
	if (!first_mark(task))
		return 0;
	struct counter_key key = { .id = task_cgroup_id(task), .event = EV_OOM_KILL };
	counter_add_fold(&oom_counts, &oom_counts_overflow, &lost_events, &key, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
