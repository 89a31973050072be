//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * tcp: connections (outbound and inbound), connect failures and latency,
 * retransmits and resets, per cgroup v2 id of the socket and address family.
 *
 * Most of these events run in softirq or timer context, where current is
 * whatever task was interrupted, so every event is attributed through the
 * socket's own cgroup (set at socket creation; an accepted socket inherits
 * its listener's).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include "bpfleet/maps.h"
#include "bpfleet/cgroup.h"
#include "bpfleet/histogram.h"

#define AF_INET 2
#define AF_INET6 10
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD

/* Families, in counter_key.event's low bits and in hist_key.labels. */
enum tcp_family {
	EV_TCP_FAMILY_IPV4 = 0,
	EV_TCP_FAMILY_IPV6 = 1,
	EV_TCP_FAMILY_OTHER = 2,
};

/* Kinds of counted events; collector/tcp.go names them. */
enum tcp_kind {
	EV_TCP_CONNECT_OUTBOUND = 0,
	EV_TCP_CONNECT_INBOUND = 1,
	EV_TCP_CONNECT_FAILURE = 2,
	EV_TCP_RETRANSMIT = 3,
	EV_TCP_RESET_SENT = 4,
	EV_TCP_RESET_RECEIVED = 5,
};

/*
 * counter_key.event = kind << TCP_EVENT_FAMILY_BITS | family, also the
 * index of the event's counter in a tcp_counts row: the one encoding,
 * which collector/tcp.go's tcpEvent reads from the generated constants.
 */
enum tcp_event_layout {
	TCP_EVENT_FAMILY_BITS = 1,
};

_Static_assert(EV_TCP_FAMILY_IPV6 < (1 << TCP_EVENT_FAMILY_BITS), "a counted family must fit its bits");

/* Keep the enums in BTF for bpf2go's -type (collector/gen.go). */
const struct {
	enum tcp_family family;
	enum tcp_kind kind;
	enum tcp_event_layout layout;
} *unused_tcp_enums __attribute__((unused));

struct connect_start {
	__u64 ts;
};

/*
 * Counted events: every kind in each counted family, as tcp_event encodes
 * them (EV_TCP_RESET_RECEIVED is the last kind; collector/contract_test.go's
 * TestTCPRowHoldsEveryEvent checks that every event has its counter).
 */
#define TCP_KINDS (EV_TCP_RESET_RECEIVED + 1)
#define TCP_EVENTS (TCP_KINDS << TCP_EVENT_FAMILY_BITS)

/* A workload's counters, indexed by tcp_event(kind, family). */
struct tcp_counts_value {
	__u64 n[TCP_EVENTS];
};

/*
 * One row per workload (cgroup v2 id; 0 for resets sent for no socket)
 * holding all its counters, instead of one row per (workload, event) as
 * counter_key maps keep them: a workload's events (its connects,
 * retransmits and resets) touch one element, and the map needs a row per
 * workload instead of one per series: 4,096 workloads in 0.66 MiB, where
 * 16,384 counter_key rows took 1.4 MiB. BENCHMARKS.md ("tcp: one row per
 * workload") has the per-event cost. A workload that finds the map full is
 * counted in the overflow companion, keyed by counter_key under id 0 like
 * every other collector's.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct tcp_counts_value);
} tcp_counts SEC(".maps");
DECLARE_COUNTER_OVERFLOW(tcp_counts);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct hist_key);
	__type(value, struct hist_value);
} tcp_connect_latency SEC(".maps");
DECLARE_HIST_OVERFLOW(tcp_connect_latency);

/* Sockets in SYN_SENT, by address; entries go at ESTABLISHED or CLOSE. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, struct connect_start);
} tcp_connecting SEC(".maps");

DECLARE_LOST_EVENTS;

static __always_inline enum tcp_family sk_family(const struct sock *sk)
{
	switch (sk->__sk_common.skc_family) {
	case AF_INET:
		return EV_TCP_FAMILY_IPV4;
	case AF_INET6:
		return EV_TCP_FAMILY_IPV6;
	}
	return EV_TCP_FAMILY_OTHER;
}

static __always_inline __u32 tcp_event(enum tcp_kind kind, enum tcp_family family)
{
	return kind << TCP_EVENT_FAMILY_BITS | family;
}

/*
 * count_n adds n events of kind and family to cgroup's row, or, when the
 * map is full, to the event's overflow row (WORKLOAD_ROW_ADD).
 */
static __always_inline void count_n(__u64 cgroup, enum tcp_kind kind, enum tcp_family family, __u64 n)
{
	__u32 i = tcp_event(kind, family);
	if (i >= TCP_EVENTS)
		return; /* never: the callers count IPv4 and IPv6 only */
	WORKLOAD_ROW_ADD(&tcp_counts, &tcp_counts_overflow, &lost_events, cgroup, struct tcp_counts_value, i, n);
}

static __always_inline void count(__u64 cgroup, enum tcp_kind kind, enum tcp_family family)
{
	count_n(cgroup, kind, family, 1);
}

/* count_sk counts an event of a full socket under the socket's cgroup. */
static __always_inline void count_sk(const struct sock *sk, enum tcp_kind kind)
{
	enum tcp_family family = sk_family(sk);
	if (family == EV_TCP_FAMILY_OTHER)
		return;
	count(sock_cgroup_id(sk), kind, family);
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tcp_set_state, const struct sock *sk, const int oldstate, const int newstate)
{
	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	enum tcp_family family = sk_family(sk);
	if (family == EV_TCP_FAMILY_OTHER)
		return 0;
	__u64 addr = (__u64)sk;

	if (newstate == TCP_SYN_SENT) {
		struct connect_start start = { .ts = bpf_ktime_get_ns() };
		if (bpf_map_update_elem(&tcp_connecting, &addr, &start, BPF_ANY))
			lost_event(&lost_events, LOST_START_FULL);
		return 0;
	}
	if (oldstate == TCP_SYN_RECV && newstate == TCP_ESTABLISHED) {
		count_sk(sk, EV_TCP_CONNECT_INBOUND);
		return 0;
	}
	if (oldstate != TCP_SYN_SENT)
		return 0;

	__u64 cgroup = sock_cgroup_id(sk);
	if (newstate == TCP_ESTABLISHED) {
		count(cgroup, EV_TCP_CONNECT_OUTBOUND, family);
		struct connect_start *start = bpf_map_lookup_elem(&tcp_connecting, &addr);
		if (start) {
			__u64 delta = bpf_ktime_get_ns() - start->ts;
			struct hist_key key = {
				.id = cgroup,
				.labels = family,
				.bucket = hist_bucket_ns(delta),
			};
			hist_add_fold(&tcp_connect_latency, &tcp_connect_latency_overflow, &lost_events, &key, delta);
		}
	} else if (newstate == TCP_CLOSE) {
		count(cgroup, EV_TCP_CONNECT_FAILURE, family);
	}
	bpf_map_delete_elem(&tcp_connecting, &addr);
	return 0;
}

/*
 * Retransmitted segments, as the kernel's RetransSegs and tcpi_total_retrans
 * count them: an skb carries tcp_skb_pcount segments (several with
 * segmentation offload), kept in its control block.
 */
SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tcp_retransmit, const struct sock *sk, const struct sk_buff *skb, int err)
{
	if (err != 0)
		return 0; /* not sent: the kernel does not count it either */
	enum tcp_family family = sk_family(sk);
	if (family == EV_TCP_FAMILY_OTHER)
		return 0;
	struct tcp_skb_cb *cb = (struct tcp_skb_cb *)skb->cb;
	__u16 segs = BPF_CORE_READ(cb, tcp_gso_segs);
	count_n(sock_cgroup_id(sk), EV_TCP_RETRANSMIT, family, segs ? segs : 1);
	return 0;
}

/*
 * A reset sent in reply to a segment that matched no socket has no sk: it is
 * counted unattributed (id 0), with the family of the segment it answers.
 * Time-wait and request sockets are not full sockets and carry no cgroup.
 */
SEC("tp_btf/tcp_send_reset")
int BPF_PROG(tcp_send_reset, const struct sock *sk, const struct sk_buff *skb)
{
	if (sk && sk_is_full(sk)) {
		count_sk(sk, EV_TCP_RESET_SENT);
		return 0;
	}
	enum tcp_family family = EV_TCP_FAMILY_OTHER;
	if (sk) {
		family = sk_family(sk);
	} else if (skb) {
		__u16 proto = bpf_ntohs(skb->protocol);
		family = proto == ETH_P_IP ? EV_TCP_FAMILY_IPV4 : proto == ETH_P_IPV6 ? EV_TCP_FAMILY_IPV6 : EV_TCP_FAMILY_OTHER;
	}
	if (family != EV_TCP_FAMILY_OTHER)
		count(0, EV_TCP_RESET_SENT, family);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(tcp_receive_reset, struct sock *sk)
{
	count_sk(sk, EV_TCP_RESET_RECEIVED);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
