//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * empty: programs that do nothing, on the hooks of cni_exporter's plugins
 * and drops collectors. Benchmarks attach them to measure the bare cost of
 * a hook, the baseline each collector's cost per event is compared with.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/sched_process_exec")
int BPF_PROG(empty_exec) { return 0; }

SEC("tp_btf/sched_process_exit")
int BPF_PROG(empty_exit) { return 0; }

SEC("tp_btf/kfree_skb")
int BPF_PROG(empty_kfree_skb) { return 0; }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
