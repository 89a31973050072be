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
 * "clock - last_queued" to next's run_delay and count the run in pcount,
 * and adds the waits a migration cuts short when it moves a queued task:
 * the sample is the growth of run_delay since next last ran.
 *
 * The kernel does not run sched_switch programs for every switch it counts
 * (on the dev VM, for no switch away from a thread of its PID 1, with no
 * recursion miss counted): the incoming task's pcount then grows past the
 * runs seen. Such a run is caught up when the task next leaves a CPU
 * through a switch the program sees: run_delay and pcount are final for
 * that run by then, so the sample is the one the missed switch would have
 * given.
 */
struct queued_seen {
	__u64 run_delay; /* the task's run_delay after the last run accounted */
	__u64 pcount;    /* its pcount then; 0: not seen yet */
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct queued_seen);
} queued_seen SEC(".maps");

/*
 * record_runs adds the runs of p since seen (pcount runs, waiting run_delay
 * in all) and moves seen to them: one sample of the whole wait, and, where
 * several runs went unseen, the others counted lost (their waits are in the
 * sample, their split is not known).
 */
static __always_inline void record_runs(struct task_struct *p, struct queued_seen *seen, __u64 run_delay,
					__u64 pcount, __u64 delta)
{
	__u64 runs = pcount - seen->pcount;
	seen->run_delay = run_delay;
	seen->pcount = pcount;
	struct hist_key key = {
		.id = task_cgroup_id(p),
		.bucket = hist_bucket_ns(delta),
	};
	hist_add_fold(&runqueue_latency, &runqueue_latency_overflow, &lost_events, &key, delta);
	if (runs > 1) {
		__u32 reason = LOST_START_FULL;
		__u64 *v = bpf_map_lookup_elem(&lost_events, &reason);
		if (v)
			*v += runs - 1;
	}
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch_queued, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	/* prev's runs that reached no program: its statistics are final. */
	struct queued_seen *seen = bpf_task_storage_get(&queued_seen, prev, 0, 0);
	if (seen && seen->pcount && prev->sched_info.pcount != seen->pcount)
		record_runs(prev, seen, prev->sched_info.run_delay, prev->sched_info.pcount,
			    prev->sched_info.run_delay - seen->run_delay);

	__u64 queued = next->sched_info.last_queued;
	if (!queued)
		return 0; /* the idle task, or not queued: the kernel counts no wait either */
	__u64 wait = next->se.cfs_rq->rq->clock - queued;
	__u64 run_delay = next->sched_info.run_delay + wait; /* after this run's arrival */
	__u64 pcount = next->sched_info.pcount + 1;
	seen = bpf_task_storage_get(&queued_seen, next, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!seen) {
		lost_event(&lost_events, LOST_START_FULL);
		return 0;
	}
	__u64 delta;
	if (seen->pcount)
		delta = run_delay - seen->run_delay;
	else if (pcount == 1)
		delta = run_delay; /* its first run: every wait so far is this one */
	else {
		delta = wait; /* ran before we attached: this wait's last part */
		seen->pcount = pcount - 1;
	}
	record_runs(next, seen, run_delay, pcount, delta);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
