// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
// Benchmark fixture, never built into kernel_exporter: the program an
// ebpf_exporter user would write to count execs per cgroup (its cgroup
// decoder turns the id into a path label), for BenchmarkPeerExec. Built with
// ebpf_exporter's examples/Makefile, which provides vmlinux.h, maps.bpf.h
// and its increment_map helper (scripts/bench-ebpf-exporter.sh).
#include <vmlinux.h>
#include <bpf/bpf_tracing.h>
#include "maps.bpf.h"

/* exec count by the cgroup v2 id of the task that called exec */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, u64);
	__type(value, u64);
} cgroup_execs_total SEC(".maps");

SEC("tp_btf/sched_process_exec")
int BPF_PROG(sched_process_exec)
{
	u64 id = bpf_get_current_cgroup_id();

	increment_map(&cgroup_execs_total, &id, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
