//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * drops: packets the kernel dropped (skb:kfree_skb), counted per network
 * namespace inode and drop reason. The namespace is the socket's when the
 * drop or the packet names one, else the device's: sockets first, because a
 * packet in a socket's queue reuses its device pointer for other data (UDP's
 * dev_scratch). 0 when neither is known. SKB_CONSUMED is not a
 * drop (kernels since 6.x send it to consume_skb instead; checked anyway).
 * Every other reason counts, SKB_DROP_REASON_NOT_SPECIFIED included.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpfleet/maps.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct counter_key); /* id: netns inode (0: unknown); event: enum skb_drop_reason */
	__type(value, __u64);
} drop_counts SEC(".maps");
DECLARE_COUNTER_OVERFLOW(drop_counts);

DECLARE_LOST_EVENTS;

static __always_inline __u32 sock_netns(struct sock *sk)
{
	return sk->__sk_common.skc_net.net->ns.inum;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason, struct sock *sk)
{
	if (reason == SKB_CONSUMED)
		return 0;
	struct counter_key key = { .event = reason };
	struct net_device *dev = skb->dev;
	if (!sk)
		sk = skb->sk;
	if (sk)
		key.id = sock_netns(sk);
	else if (dev)
		key.id = dev->nd_net.net->ns.inum;
	counter_add_fold(&drop_counts, &drop_counts_overflow, &lost_events, &key, 1);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
