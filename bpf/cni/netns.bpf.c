//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * netns: network namespaces created, counted per successful unshare, clone
 * or clone3 whose flags have CLONE_NEWNET. The entry remembers, by thread,
 * that the call asks for a new network namespace; the exit counts it when
 * the call succeeded. setns joins a namespace and is not counted. The child
 * of a clone returns through the exit tracepoint too, but under a thread id
 * that never entered, so each clone counts once.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "bpfleet/maps.h"

#define CLONE_NEWNET 0x40000000

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} netns_pending SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} netns_created SEC(".maps");

DECLARE_LOST_EVENTS;

static __always_inline void enter(__u64 flags)
{
	if (!(flags & CLONE_NEWNET))
		return;
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	__u8 one = 1;
	if (bpf_map_update_elem(&netns_pending, &tid, &one, BPF_ANY))
		lost_event(&lost_events, LOST_START_FULL);
}

static __always_inline void leave(long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	if (!bpf_map_lookup_elem(&netns_pending, &tid))
		return;
	bpf_map_delete_elem(&netns_pending, &tid);
	if (ret < 0)
		return;
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&netns_created, &zero);
	if (n)
		*n += 1;
}

SEC("tracepoint/syscalls/sys_enter_unshare")
int unshare_enter(struct trace_event_raw_sys_enter *ctx)
{
	enter(ctx->args[0]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_unshare")
int unshare_exit(struct trace_event_raw_sys_exit *ctx)
{
	leave(ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_clone")
int clone_enter(struct trace_event_raw_sys_enter *ctx)
{
	enter(ctx->args[0]);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_clone")
int clone_exit(struct trace_event_raw_sys_exit *ctx)
{
	leave(ctx->ret);
	return 0;
}

/* clone3's flags are the first field of the struct clone_args it points to. */
SEC("tracepoint/syscalls/sys_enter_clone3")
int clone3_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u64 flags = 0;
	if (bpf_probe_read_user(&flags, sizeof(flags), (void *)ctx->args[0]))
		return 0;
	enter(flags);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_clone3")
int clone3_exit(struct trace_event_raw_sys_exit *ctx)
{
	leave(ctx->ret);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
