//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * empty: programs that do nothing, on the hooks of kernel_exporter's
 * collectors. Benchmarks attach them to measure the bare cost of a hook,
 * the baseline each collector's cost per event is compared with.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

SEC("tp_btf/sched_process_exec")
int BPF_PROG(empty_exec) { return 0; }

SEC("tp_btf/sched_process_fork")
int BPF_PROG(empty_fork) { return 0; }

SEC("tp_btf/sched_process_exit")
int BPF_PROG(empty_exit) { return 0; }

SEC("tp_btf/sched_wakeup")
int BPF_PROG(empty_wakeup) { return 0; }

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(empty_wakeup_new) { return 0; }

SEC("tp_btf/sched_switch")
int BPF_PROG(empty_switch) { return 0; }

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(empty_set_state) { return 0; }

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(empty_retransmit) { return 0; }

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(empty_send_reset) { return 0; }

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(empty_receive_reset) { return 0; }

SEC("tracepoint/block/block_rq_issue")
int empty_block_issue(void *ctx) { return 0; }

SEC("tracepoint/block/block_rq_complete")
int empty_block_complete(void *ctx) { return 0; }

SEC("tp_btf/block_rq_issue")
int BPF_PROG(empty_block_issue_btf) { return 0; }

SEC("tp_btf/block_rq_complete")
int BPF_PROG(empty_block_complete_btf) { return 0; }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
