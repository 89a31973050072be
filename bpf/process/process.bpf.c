//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * process: execs, forks (new processes, not threads) and whole-process exits
 * by outcome, per cgroup v2 id of the task doing them.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpfleet/maps.h"

/* counter_key.event values; collector/process.go names them from the generated constants. */
enum process_event {
	EV_PROCESS_EXEC = 0,
	EV_PROCESS_FORK = 1,
	EV_PROCESS_EXIT_SUCCESS = 2,
	EV_PROCESS_EXIT_FAILURE = 3,
	EV_PROCESS_EXIT_SIGNAL = 4,
};

/* Keep the enum in BTF for bpf2go's -type (internal/procexit). */
const enum process_event *unused_process_event __attribute__((unused));

#define SIGNAL_GROUP_EXIT 0x00000004

#define PROCESS_EVENTS 5

/* A workload's counters, indexed by enum process_event. */
struct process_counts_value {
	__u64 n[PROCESS_EVENTS];
};

/*
 * One row per workload (cgroup v2 id) holding all its counters, instead of
 * one row per (workload, event) as counter_key maps keep them: an exit after
 * an exec and a fork in the same workload finds the row those brought into
 * the cache, and the map needs a fifth of the rows. BENCHMARKS.md ("process
 * hooks: one row per workload") has the per-event cost. A workload that
 * finds the map full is counted in the overflow companion, keyed by
 * counter_key under id 0 like every other collector's.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct process_counts_value);
} process_counts SEC(".maps");
DECLARE_COUNTER_OVERFLOW(process_counts);

DECLARE_LOST_EVENTS;

/*
 * count adds one event to the row of cur's cgroup v2 id, or, when the map is
 * full, to the event's overflow row. cur is the current task (each hook's
 * task argument is current), so its id is what bpf_get_current_cgroup_id
 * returns (task_dfl_cgroup(current)->kn->id), read here through BTF
 * instead: the same loads without the helper call (WORKLOAD_ROW_ADD).
 */
static __always_inline void count(struct task_struct *cur, enum process_event event)
{
	__u32 i = event;
	if (i >= PROCESS_EVENTS)
		return; /* never: the callers pass the enum's values */
	WORKLOAD_ROW_ADD(&process_counts, &process_counts_overflow, &lost_events, cur->cgroups->dfl_cgrp->kn->id,
			 struct process_counts_value, i, 1);
}

/* p is current: trace_sched_process_exec(current, old_pid, bprm). */
SEC("tp_btf/sched_process_exec")
int BPF_PROG(process_exec, struct task_struct *p)
{
	count(p, EV_PROCESS_EXEC);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(process_fork, struct task_struct *parent, struct task_struct *child)
{
	if (child->pid != child->tgid)
		return 0; /* a new thread, not a new process */
	count(parent, EV_PROCESS_FORK); /* parent is current */
	return 0;
}

/*
 * The exit status of a whole process: the group exit code when the group was
 * told to exit (exit_group, fatal signal), else the last thread's own code.
 * Layout as in wait(2): low 7 bits a signal, bits 8-15 the exit code.
 */
static __always_inline enum process_event exit_outcome(struct task_struct *p)
{
	struct signal_struct *sig = p->signal;
	int code = p->exit_code;
	if (sig && (sig->flags & SIGNAL_GROUP_EXIT))
		code = sig->group_exit_code;
	if (code & 0x7f)
		return EV_PROCESS_EXIT_SIGNAL;
	if ((code >> 8) & 0xff)
		return EV_PROCESS_EXIT_FAILURE;
	return EV_PROCESS_EXIT_SUCCESS;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(process_exit, struct task_struct *p, bool group_dead)
{
	if (!group_dead)
		return 0; /* a thread, or not the last one of its process */
	count(p, exit_outcome(p)); /* p is current (do_exit) */
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
