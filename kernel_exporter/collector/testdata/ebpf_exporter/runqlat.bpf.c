// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// Benchmark fixture, never built into kernel_exporter: run-queue latency as
// an ebpf_exporter v2 user would measure it (v2 ships no run-queue example),
// for BenchmarkPeerWakeup. The same three hooks as the wakeup design of
// kernel_exporter's sched collector: the time a task became runnable, per
// pid in a hash, on wakeup, wakeup_new and preemption; on switch-in, the
// wait in microseconds goes into one host-wide log2 histogram (no workload
// labels). Built with ebpf_exporter's examples/Makefile, which provides
// vmlinux.h, maps.bpf.h and its log2 and array helpers
// (scripts/bench-ebpf-exporter.sh).
#include <vmlinux.h>
#include <bpf/bpf_tracing.h>
#include "maps.bpf.h"

#define TASK_RUNNING 0

/* log2 buckets of microseconds: 0..LAST_BUCKET, the last open-ended */
#define LAST_BUCKET 26
/* the array slot after the buckets holds the sum */
#define SUM_SLOT (LAST_BUCKET + 1)

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, u64);
} runnable_at SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SUM_SLOT + 1);
	__type(key, u32);
	__type(value, u64);
} run_queue_latency_seconds SEC(".maps");

static __always_inline void runnable(struct task_struct *p)
{
	u32 pid = p->pid;
	u64 now;

	if (pid == 0)
		return; /* an idle task */
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&runnable_at, &pid, &now, BPF_ANY);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(sched_wakeup, struct task_struct *p)
{
	runnable(p);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(sched_wakeup_new, struct task_struct *p)
{
	runnable(p);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(sched_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	u32 pid = next->pid, slot;
	u64 *since, *v, waited;

	if (prev_state == TASK_RUNNING)
		runnable(prev); /* preempted: still runnable */
	since = bpf_map_lookup_elem(&runnable_at, &pid);
	if (!since)
		return 0;
	waited = (bpf_ktime_get_ns() - *since) / 1000;
	bpf_map_delete_elem(&runnable_at, &pid);

	slot = log2l_histogram(waited);
	if (slot > LAST_BUCKET)
		slot = LAST_BUCKET;
	read_array_ptr(&run_queue_latency_seconds, &slot, v);
	__sync_fetch_and_add(v, 1);
	slot = SUM_SLOT;
	read_array_ptr(&run_queue_latency_seconds, &slot, v);
	__sync_fetch_and_add(v, waited);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
