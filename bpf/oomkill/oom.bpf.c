//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * oom: OOM kills per cgroup v2 id of the victim. mark_victim runs in the
 * context of the task whose allocation triggered the kill, so the victim's
 * cgroup is read from the victim's task_struct, never from current.
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
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct counter_key);
	__type(value, __u64);
} oom_counts SEC(".maps");

DECLARE_LOST_EVENTS;

SEC("tp_btf/mark_victim")
int BPF_PROG(oom_mark_victim, struct task_struct *task)
{
	struct counter_key key = { .id = task_cgroup_id(task), .event = EV_OOM_KILL };
	counter_add(&oom_counts, &lost_events, &key, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
