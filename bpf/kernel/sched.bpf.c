//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sched: run-queue latency, the time from a task being queued on a run
 * queue (wakeup, or preemption while still runnable) to it running on a CPU,
 * as a native histogram per cgroup v2 id of the task.
 *
 * Two designs; collector/sched.go loads one of them:
 * - sched_switch_queued alone, where the scheduler keeps its own per-task
 *   run-queue statistics (CONFIG_SCHED_INFO, checked in the kernel's BTF):
 *   the kernel stamps next->sched_info.last_queued with its run queue's
 *   clock when it queues the task, and sums the waits in run_delay. Each
 *   sample is the growth of the task's run_delay since it last ran, as the
 *   kernel counts it: no wakeup hooks, one task storage value per task.
 * - sched_wakeup, sched_wakeup_new and sched_switch otherwise: wakeup times
 *   live in task storage, so they need no capacity planning and vanish with
 *   the task.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpfleet/maps.h"
#include "bpfleet/cgroup.h"
#include "bpfleet/histogram.h"

#define TASK_RUNNING 0

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} runnable_since SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct hist_key);
	__type(value, struct hist_value);
} runqueue_latency SEC(".maps");
DECLARE_HIST_OVERFLOW(runqueue_latency);

DECLARE_LOST_EVENTS;

static __always_inline void mark_runnable(struct task_struct *p)
{
	if (p->pid == 0)
		return; /* an idle task */
	__u64 *ts = bpf_task_storage_get(&runnable_since, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!ts) {
		lost_event(&lost_events, LOST_START_FULL);
		return;
	}
	*ts = bpf_ktime_get_ns();
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup, struct task_struct *p)
{
	mark_runnable(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new, struct task_struct *p)
{
	mark_runnable(p);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	if (prev_state == TASK_RUNNING)
		mark_runnable(prev); /* preempted: back on the run queue */
	if (next->pid == 0)
		return 0;
	__u64 *ts = bpf_task_storage_get(&runnable_since, next, 0, 0);
	if (!ts || *ts == 0)
		return 0; /* runnable since before we attached */
	__u64 now = bpf_ktime_get_ns();
	__u64 delta = now - *ts;
	*ts = 0;
	struct hist_key key = {
		.id = task_cgroup_id(next),
		.bucket = hist_bucket_ns(delta),
	};
	hist_add_fold(&runqueue_latency, &runqueue_latency_overflow, &lost_events, &key, delta);
	return 0;
}

/*
 * The sched_info design. The run queue's clock (sched_clock_cpu, not
 * bpf_ktime_get_ns) was updated at the start of this __schedule; next sits
 * on this CPU's run queue, which its CFS run queue (of its task group, any
 * scheduling class) points to. The kernel is about to add
 * "clock - last_queued" to next's run_delay, and adds the waits a migration
 * cuts short when it moves a queued task: the sample is the growth of
 * run_delay since next last ran, kept in runnable_since (plus one, so that
 * 0 means "not seen yet").
 */
SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch_queued, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	__u64 queued = next->sched_info.last_queued;
	if (!queued)
		return 0; /* the idle task, or not queued: the kernel counts no wait either */
	__u64 wait = next->se.cfs_rq->rq->clock - queued;
	__u64 run_delay = next->sched_info.run_delay + wait; /* after this run's arrival */
	__u64 *seen = bpf_task_storage_get(&runnable_since, next, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!seen) {
		lost_event(&lost_events, LOST_START_FULL);
		return 0;
	}
	__u64 delta;
	if (*seen)
		delta = run_delay - (*seen - 1);
	else if (next->sched_info.pcount == 0)
		delta = run_delay; /* its first run: every wait so far is this one */
	else
		delta = wait; /* ran before we attached: this wait's last part */
	*seen = run_delay + 1;
	struct hist_key key = {
		.id = task_cgroup_id(next),
		.bucket = hist_bucket_ns(delta),
	};
	hist_add_fold(&runqueue_latency, &runqueue_latency_overflow, &lost_events, &key, delta);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
