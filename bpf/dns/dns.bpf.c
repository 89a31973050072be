//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * dns: DNS queries, responses by rcode, latency and truncation per workload,
 * seen at the socket (cgroup_skb on the cgroup v2 root): every socket on the
 * node in any network namespace, each packet once, attributed through the
 * socket's cgroup. Only the client's side counts: queries leave a socket
 * towards a DNS port, responses arrive from one. A DNS server on the node
 * receives queries on its DNS port and sends responses from it, which match
 * neither, so its traffic is not mistaken for a client's.
 *
 * Queries wait in dns_pending, keyed by socket cookie and DNS id, until their
 * response arrives (a latency sample) or user space reaps them after the
 * timeout (an unanswered query). The table is shared by every workload on
 * the node, so each workload may hold at most pending_per_workload of its
 * rows: a workload that floods never-answered queries fills its own share,
 * not the table, and the queries it sends beyond its share are counted as
 * untracked against it, not against whoever asks next.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "bpfleet/maps.h"
#include "bpfleet/histogram.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_HOPOPTS 0
#define IPPROTO_ROUTING 43
#define IPPROTO_FRAGMENT 44
#define IPPROTO_AH 51
#define IPPROTO_DSTOPTS 60
#define DNS_HEADER_LEN 12
#define DNS_MAX_LABELS 128
#define DNS_MAX_NAME 255

/*
 * Closed label values. collector/labels.go names each value through the
 * constants bpf2go generates from these enums (-type), so Go never counts
 * positions.
 */
enum dns_qtype {
	QT_A, QT_AAAA, QT_CNAME, QT_MX, QT_NS, QT_PTR, QT_SOA, QT_SRV, QT_TXT, QT_HTTPS, QT_SVCB, QT_ANY, QT_OTHER,
};
enum dns_rcode {
	RC_NOERROR, RC_FORMERR, RC_SERVFAIL, RC_NXDOMAIN, RC_NOTIMP, RC_REFUSED, RC_OTHER,
};
enum dns_kind {
	DNS_QUERY = 0,
	DNS_RESPONSE = 1,
	DNS_TRUNCATED = 2,
	DNS_SUPERSEDED = 3, /* a pending query replaced by another with its id on its socket: unanswered */
	DNS_UNTRACKED_LIMIT = 4, /* not followed: the workload had pending_per_workload queries pending */
	DNS_UNTRACKED_FULL = 5,  /* not followed: dns_pending was full */
};
enum dns_malformed_reason {
	MAL_TRUNCATED = 0,   /* the packet ends inside the header or question */
	MAL_BAD_LABEL = 1,   /* a label length of 64-191 (reserved label types) */
	MAL_COMPRESSION = 2, /* a compression pointer in the question (a loop) */
	MAL_NAME_TOO_LONG = 3,
	MAL_NO_QUESTION = 4,
	MAL_REASONS = 5,
};

/*
 * The bit layout of counter_key.event (kind | qtype | rcode | tcp | ipv6)
 * and hist_key.labels (qtype | tcp | ipv6), generated for Go as well.
 */
enum dns_label_bits {
	EVENT_FIELD_MASK = 0xf, /* kind, qtype and rcode take 4 bits each */
	EVENT_QTYPE_SHIFT = 4,
	EVENT_RCODE_SHIFT = 8,
	EVENT_TCP_SHIFT = 12,
	EVENT_IPV6_SHIFT = 13,
	EVENT_BITS = 14,
	HIST_QTYPE_MASK = 0xff,
	HIST_TCP_SHIFT = 8,
	HIST_IPV6_SHIFT = 9,
	HIST_BITS = 10,
};

#define EVENT(kind, qt, rc, tcp, v6)                                                                \
	((kind) | (qt) << EVENT_QTYPE_SHIFT | (rc) << EVENT_RCODE_SHIFT | (tcp) << EVENT_TCP_SHIFT | \
	 (v6) << EVENT_IPV6_SHIFT)
#define HIST_LABELS(qt, tcp, v6) ((qt) | (tcp) << HIST_TCP_SHIFT | (v6) << HIST_IPV6_SHIFT)
/* The counter_key.event of kind for a query of hist_key.labels l. */
#define EVENT_OF_LABELS(kind, l) \
	EVENT(kind, (l) & HIST_QTYPE_MASK, 0, (l) >> HIST_TCP_SHIFT & 1, (l) >> HIST_IPV6_SHIFT & 1)

/* Keep the enums that no variable has in BTF, for bpf2go -type. */
const enum dns_qtype *unused_dns_qtype __attribute__((unused));
const enum dns_rcode *unused_dns_rcode __attribute__((unused));
const enum dns_kind *unused_dns_kind __attribute__((unused));
const enum dns_malformed_reason *unused_dns_malformed_reason __attribute__((unused));
const enum dns_label_bits *unused_dns_label_bits __attribute__((unused));

struct pending_key {
	__u64 cookie; /* socket cookie */
	__u16 id;     /* DNS id */
	__u16 pad[3];
};

struct pending_query {
	__u64 ts;     /* CLOCK_MONOTONIC ns when the query left */
	__u64 cgroup; /* the querying socket's cgroup v2 id */
	__u32 labels; /* HIST_LABELS of the query */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct pending_key);
	__type(value, struct pending_query);
} dns_pending SEC(".maps");

/*
 * Per workload (cgroup id): queries it put into dns_pending and queries of
 * its that left it through a response or a superseding query, both counted
 * here atomically; dns_reaped holds the ones user space reaped as
 * unanswered, written only by user space. started - finished - reaped is
 * what the workload has pending. User space deletes the rows of workloads
 * that are gone.
 */
struct inflight {
	__u64 started;
	__u64 finished;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct inflight);
} dns_inflight SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, __u64);
} dns_reaped SEC(".maps");

/* At most this many rows of dns_pending per workload; set before loading. */
volatile const __u32 pending_per_workload = 4096;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct counter_key);
	__type(value, __u64);
} dns_counts SEC(".maps");
DECLARE_COUNTER_OVERFLOW(dns_counts);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct hist_key);
	__type(value, struct hist_value);
} dns_latency SEC(".maps");
DECLARE_HIST_OVERFLOW(dns_latency);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MAL_REASONS);
	__type(key, __u32);
	__type(value, __u64);
} dns_malformed SEC(".maps");

/*
 * DNS ports (--collector.dns.ports): one bit per port, indexed by the port
 * in network byte order as the packet carries it, set by user space before
 * loading. Every packet of every socket asks whether its port is here: a
 * load and a shift from read-only memory, not a hash lookup.
 */
#define PORT_WORDS (65536 / 64)
volatile const __u64 dns_port_bits[PORT_WORDS];

/*
 * NXDOMAIN names (--collector.dns.names): the question name of each NXDOMAIN
 * response, in wire format, for user space to count by name. Off unless
 * user space sets capture_nxdomain_names before loading.
 */
#define NAME_CAPTURE_MAX 255

volatile const __u8 capture_nxdomain_names = 0;

struct name_event {
	__u64 cgroup; /* the receiving socket's cgroup v2 id */
	__u32 len; /* bytes of name captured */
	__u8 name[NAME_CAPTURE_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} dns_names SEC(".maps");

const struct name_event *unused_name_event __attribute__((unused));

DECLARE_LOST_EVENTS;

/* A packet's transport and where its DNS message starts. */
struct l4 {
	__u32 dns_off;
	__be16 sport, dport;
	__u8 tcp, ipv6;
};

struct dns_header {
	__be16 id;
	__be16 flags;
	__be16 qdcount, ancount, nscount, arcount;
};

/*
 * The first bytes of a packet, copied with one bpf_skb_load_bytes: the
 * IP, UDP and DNS headers and the start of the question of a query or a
 * response, which took a helper call each (one per label of the name).
 * A read inside the first n bytes comes from here, any other from the
 * packet, so a read fails exactly when bpf_skb_load_bytes would (past
 * skb->len) and every packet is judged as before. n is 0 when nothing was
 * copied (a packet shorter than WINDOW_MIN).
 */
#define WINDOW 128 /* a power of two */
#define WINDOW_MIN 28 /* an IPv4 header and a UDP header */

struct window {
	__u32 n;
	__u8 b[WINDOW];
};

/*
 * window_read copies size bytes at packet offset off into dst; 0 or < 0.
 * The test is on a value of its own (barrier_var), the bytes left in the
 * window from off, so that the verifier narrows neither off nor n.
 * Variable offsets into the stack need CAP_PERFMON, which the exporter
 * has (its cgroup watcher is a tracing program; without it these
 * programs never loaded, too large for the verifier).
 */
static __always_inline long window_read(struct __sk_buff *skb, const struct window *w, __u32 off, void *dst, __u32 size)
{
	__u32 left = w->n - off; /* a large value when off is past n */
	barrier_var(left);
	if (left >= size && left <= WINDOW) {
		__u8 *d = dst;
#pragma unroll
		for (__u32 i = 0; i < size; i++)
			d[i] = w->b[(off + i) & (WINDOW - 1)];
		return 0;
	}
	return bpf_skb_load_bytes(skb, off, dst, size);
}

/*
 * malformed counts a malformed message. Only UDP datagrams are judged: a
 * TCP segment may continue a message that started in an earlier segment,
 * and parses as garbage.
 */
static __always_inline void malformed_if(int judged, __u32 reason)
{
	if (!judged)
		return;
	__u64 *v = bpf_map_lookup_elem(&dns_malformed, &reason);
	if (v)
		*v += 1;
}

static __always_inline int is_dns_port(__be16 port)
{
	__u32 p = port;
	return dns_port_bits[p / 64] >> (p % 64) & 1;
}

/* ipv6_l4 skips IPv6 extension headers; returns the transport offset or -1. */
static __always_inline int ipv6_l4(struct __sk_buff *skb, __u8 *proto)
{
	struct ipv6hdr ip6;
	if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
		return -1;
	__u32 off = sizeof(ip6);
	__u8 next = ip6.nexthdr;
#pragma unroll
	for (int i = 0; i < 6; i++) {
		if (next != IPPROTO_HOPOPTS && next != IPPROTO_ROUTING && next != IPPROTO_DSTOPTS &&
		    next != IPPROTO_FRAGMENT && next != IPPROTO_AH)
			break;
		__u8 ext[2];
		if (bpf_skb_load_bytes(skb, off, ext, sizeof(ext)))
			return -1;
		if (next == IPPROTO_FRAGMENT) {
			__be16 frag;
			if (bpf_skb_load_bytes(skb, off + 2, &frag, sizeof(frag)))
				return -1;
			if (bpf_ntohs(frag) & 0xfff8)
				return -1; /* not the first fragment: no transport header */
			off += 8;
		} else if (next == IPPROTO_AH) {
			off += (ext[1] + 2) * 4;
		} else {
			off += (ext[1] + 1) * 8;
		}
		next = ext[0];
	}
	*proto = next;
	return off;
}

/* parse_l4 finds UDP or TCP and the DNS message of a packet to or from a DNS port. */
static __always_inline int parse_l4(struct __sk_buff *skb, struct l4 *l)
{
	__u8 proto;
	int off;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;
		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)))
			return -1;
		if (ip.frag_off & bpf_htons(0x1fff))
			return -1; /* not the first fragment */
		proto = ip.protocol;
		off = ip.ihl * 4;
		l->ipv6 = 0;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		off = ipv6_l4(skb, &proto);
		if (off < 0)
			return -1;
		l->ipv6 = 1;
	} else {
		return -1;
	}
	if (proto == IPPROTO_UDP) {
		struct udphdr udp;
		if (bpf_skb_load_bytes(skb, off, &udp, sizeof(udp)))
			return -1;
		l->sport = udp.source;
		l->dport = udp.dest;
		l->dns_off = off + sizeof(udp);
		l->tcp = 0;
		return 0;
	}
	if (proto == IPPROTO_TCP) {
		struct tcphdr tcp;
		if (bpf_skb_load_bytes(skb, off, &tcp, sizeof(tcp)))
			return -1;
		l->sport = tcp.source;
		l->dport = tcp.dest;
		/* DNS over TCP: a 2-byte length, then the message. */
		l->dns_off = off + tcp.doff * 4 + 2;
		l->tcp = 1;
		return 0;
	}
	return -1;
}

/*
 * ports_from_window reads the ports of a packet whose window holds an IP
 * header without options or extension headers and the first bytes of its
 * UDP or TCP header (the ports come first in both). Returns 1 and fills
 * l for UDP (the DNS message follows the 8-byte header), 2 for TCP (only
 * the ports: parse_l4 finds the message), 0 when the packet needs
 * parse_l4. A UDP or TCP header that the packet cuts short is left to
 * parse_l4, which then fails as before.
 */
static __always_inline int ports_from_window(struct __sk_buff *skb, const struct window *w, struct l4 *l)
{
	__u32 l4off;
	__u8 proto;
	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		if ((w->b[0] & 0xf) != 5 || (w->b[6] & 0x1f) || w->b[7])
			return 0; /* options, or a fragment other than the first */
		proto = w->b[9];
		l4off = sizeof(struct iphdr);
		l->ipv6 = 0;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		proto = w->b[6];
		l4off = sizeof(struct ipv6hdr);
		l->ipv6 = 1;
	} else {
		return 0;
	}
	if (proto == IPPROTO_UDP && w->n >= l4off + sizeof(struct udphdr)) {
		const struct udphdr *udp = (const void *)(w->b + l4off);
		l->sport = udp->source;
		l->dport = udp->dest;
		l->dns_off = l4off + sizeof(struct udphdr);
		l->tcp = 0;
		return 1;
	}
	if (proto == IPPROTO_TCP && w->n >= l4off + 4) {
		const struct tcphdr *tcp = (const void *)(w->b + l4off);
		l->sport = tcp->source;
		l->dport = tcp->dest;
		return 2;
	}
	return 0;
}

/* load_qtype reads QTYPE at off, from the window w unless it is NULL. */
static __always_inline int load_qtype(struct __sk_buff *skb, const struct window *w, __u32 off, int judged)
{
	__be16 qt;
	if (w ? window_read(skb, w, off, &qt, sizeof(qt)) : bpf_skb_load_bytes(skb, off, &qt, sizeof(qt))) {
		malformed_if(judged, MAL_TRUNCATED);
		return -1;
	}
	return bpf_ntohs(qt);
}

static __always_inline __u32 qtype_enum(__u16 qt)
{
	switch (qt) {
	case 1: return QT_A;
	case 28: return QT_AAAA;
	case 5: return QT_CNAME;
	case 15: return QT_MX;
	case 2: return QT_NS;
	case 12: return QT_PTR;
	case 6: return QT_SOA;
	case 33: return QT_SRV;
	case 16: return QT_TXT;
	case 65: return QT_HTTPS;
	case 64: return QT_SVCB;
	case 255: return QT_ANY;
	}
	return QT_OTHER;
}

static __always_inline __u32 rcode_enum(__u16 flags)
{
	__u32 rc = flags & 0xf;
	return rc <= RC_REFUSED ? rc : RC_OTHER;
}

/*
 * question_qtype_packet is question_qtype reading each label length from
 * the packet, for names that run past the window.
 */
static __always_inline int question_qtype_packet(struct __sk_buff *skb, __u32 start, int judged)
{
	__u32 off = start, name_len = 0;
	for (int i = 0; i < DNS_MAX_LABELS; i++) {
		__u8 len;
		if (bpf_skb_load_bytes(skb, off, &len, 1)) {
			malformed_if(judged, MAL_TRUNCATED);
			return -1;
		}
		if (len == 0)
			return load_qtype(skb, NULL, off + 1, judged);
		if ((len & 0xc0) == 0xc0) {
			malformed_if(judged, MAL_COMPRESSION);
			return -1;
		}
		if (len & 0xc0) {
			malformed_if(judged, MAL_BAD_LABEL);
			return -1;
		}
		name_len += len + 1;
		if (name_len + 1 > DNS_MAX_NAME) { /* + 1: the terminating zero */
			malformed_if(judged, MAL_NAME_TOO_LONG);
			return -1;
		}
		off += len + 1;
	}
	malformed_if(judged, MAL_NAME_TOO_LONG);
	return -1;
}

/*
 * question_qtype walks the first question's name, which starts at packet
 * offset base + 12 (base: the DNS message's offset), and returns its QTYPE,
 * or -1 after counting why the packet is malformed. The first name of a
 * message has nothing before it to point to: a compression pointer in it
 * points into the header, forwards, or back into this name, whose labels
 * lead to the pointer again (a loop).
 *
 * The name is walked in the window, without a helper call per label; a
 * name that runs past the window is walked again from its start by
 * question_qtype_packet, which judges each label alike. A global
 * function: the verifier checks it once, with any window and any offset,
 * not once for every way into it (each label's exit would otherwise carry
 * its own state through the rest of the program).
 */
__attribute__((noinline)) int question_qtype(struct __sk_buff *skb, const struct window *w, __u32 base, int judged)
{
	if (!skb || !w)
		return -1;
	__u32 start = base + DNS_HEADER_LEN;
	__u32 off = start, name_len = 0;
	for (int i = 0; i < DNS_MAX_LABELS; i++) {
		if (off >= WINDOW || off >= w->n)
			break;
		__u64 at = off;
		barrier_var(at); /* keeps the mask, which the verifier needs */
		__u8 len = w->b[at & (WINDOW - 1)];
		if (len == 0)
			return load_qtype(skb, w, off + 1, judged);
		if ((len & 0xc0) == 0xc0) {
			malformed_if(judged, MAL_COMPRESSION);
			return -1;
		}
		if (len & 0xc0) {
			malformed_if(judged, MAL_BAD_LABEL);
			return -1;
		}
		name_len += len + 1;
		if (name_len + 1 > DNS_MAX_NAME) {
			malformed_if(judged, MAL_NAME_TOO_LONG);
			return -1;
		}
		off += len + 1;
	}
	return question_qtype_packet(skb, start, judged);
}

/* capture_name sends the name starting at off to user space. */
static __always_inline void capture_name(struct __sk_buff *skb, __u32 off, __u64 cgroup)
{
	struct name_event *ev = bpf_ringbuf_reserve(&dns_names, sizeof(*ev), 0);
	if (!ev) {
		lost_event(&lost_events, LOST_RINGBUF_FULL);
		return;
	}
	__u32 len = skb->len > off ? skb->len - off : 0;
	if (len > NAME_CAPTURE_MAX)
		len = NAME_CAPTURE_MAX;
	barrier_var(len);
	len &= NAME_CAPTURE_MAX; /* 0xff: the verifier sees the bound */
	ev->cgroup = cgroup;
	ev->len = 0;
	if (len > 0 && bpf_skb_load_bytes(skb, off, ev->name, len) == 0)
		ev->len = len;
	bpf_ringbuf_submit(ev, 0);
}

static __always_inline __u64 socket_cgroup(struct __sk_buff *skb)
{
	return bpf_skb_cgroup_id(skb);
}

/* inflight_of returns cgroup's dns_inflight row, made when missing. */
static __always_inline struct inflight *inflight_of(__u64 cgroup)
{
	struct inflight *f = bpf_map_lookup_elem(&dns_inflight, &cgroup);
	if (f)
		return f;
	struct inflight zero = {};
	bpf_map_update_elem(&dns_inflight, &cgroup, &zero, BPF_NOEXIST);
	return bpf_map_lookup_elem(&dns_inflight, &cgroup);
}

/* finished counts one pending query of cgroup that left dns_pending. */
static __always_inline void finished(__u64 cgroup)
{
	struct inflight *f = bpf_map_lookup_elem(&dns_inflight, &cgroup);
	if (f)
		__sync_fetch_and_add(&f->finished, 1);
}

/*
 * at_limit says whether the workload of f, cgroup, has pending_per_workload
 * queries pending: started - finished - reaped. reaped only lowers it, so
 * it is read only when the rest reaches the limit.
 */
static __always_inline int at_limit(const struct inflight *f, __u64 cgroup)
{
	__s64 pending = (__s64)(f->started - f->finished);
	if (pending < (__s64)pending_per_workload)
		return 0;
	__u64 *reaped = bpf_map_lookup_elem(&dns_reaped, &cgroup);
	pending -= reaped ? *reaped : 0;
	return pending >= (__s64)pending_per_workload;
}

/*
 * supersede takes pk's pending query out of dns_pending: the client gave up
 * on it and reused its id on the same socket before the timeout. It is
 * unanswered, counted here, so that responses plus unanswered always equal
 * queries. Whoever deletes the row counts it, so a response or the reaper
 * racing this counts it once.
 */
static __always_inline void supersede(const struct pending_key *pk)
{
	struct pending_query *old = bpf_map_lookup_elem(&dns_pending, pk);
	if (!old)
		return; /* answered or reaped meanwhile */
	struct pending_query o = *old;
	if (bpf_map_delete_elem(&dns_pending, pk))
		return; /* a response or the reaper took it first */
	struct counter_key sk = { .id = o.cgroup, .event = EVENT_OF_LABELS(DNS_SUPERSEDED, o.labels) };
	counter_add_fold(&dns_counts, &dns_counts_overflow, &lost_events, &sk, 1);
	finished(o.cgroup);
}

/*
 * track puts a query into dns_pending unless its workload already has
 * pending_per_workload queries there or the table is full; an untracked
 * query is counted against the workload, by reason.
 *
 * The query is inserted first: one whose id is still pending on its socket
 * (a client's retry, rare) learns it from the insert's -EEXIST, supersedes
 * the pending one and is inserted again, so every other query costs an
 * insert and not a lookup before it. A workload at its limit supersedes
 * first, since that frees a row of its own, and is judged again: a query
 * is followed exactly when it was before the insert came first.
 */
static __always_inline void track(const struct pending_key *pk, const struct pending_query *q)
{
	struct inflight *f = inflight_of(q->cgroup);
	if (f && at_limit(f, q->cgroup)) {
		supersede(pk);
		if (at_limit(f, q->cgroup)) {
			struct counter_key ck = { .id = q->cgroup, .event = EVENT_OF_LABELS(DNS_UNTRACKED_LIMIT, q->labels) };
			counter_add_fold(&dns_counts, &dns_counts_overflow, &lost_events, &ck, 1);
			return;
		}
	}
	long err = bpf_map_update_elem(&dns_pending, pk, q, BPF_NOEXIST);
	if (err == -EEXIST) {
		supersede(pk);
		err = bpf_map_update_elem(&dns_pending, pk, q, BPF_NOEXIST);
	}
	if (err) {
		/*
		 * The table is full, or (-EEXIST again) another query with
		 * this id on this socket came in between, whose row stays:
		 * this one is not followed.
		 */
		struct counter_key ck = { .id = q->cgroup, .event = EVENT_OF_LABELS(DNS_UNTRACKED_FULL, q->labels) };
		counter_add_fold(&dns_counts, &dns_counts_overflow, &lost_events, &ck, 1);
		return;
	}
	if (f)
		__sync_fetch_and_add(&f->started, 1);
}

/* handle parses one packet of a socket; egress is 1 for packets it sends. */
static __always_inline void handle(struct __sk_buff *skb, int egress)
{
	struct l4 l = {};
	struct window w;
	w.n = 0;
	int fast = 0;
	__u64 n = skb->len;
	if (n >= WINDOW_MIN) {
		barrier_var(n);
		if (n > WINDOW)
			n = WINDOW;
		barrier_var(n);
		if (n >= WINDOW_MIN && bpf_skb_load_bytes(skb, 0, w.b, n) == 0) {
			/*
			 * n again, from a load of its own: the verifier marks
			 * the size of bpf_skb_load_bytes precise, and a
			 * precise w.n would keep it from pruning the states
			 * of packets of different lengths.
			 */
			__u32 len = *(volatile __u32 *)&skb->len;
			w.n = len < WINDOW ? len : WINDOW;
			fast = ports_from_window(skb, &w, &l);
		}
	}
	if (!fast && parse_l4(skb, &l))
		return;
	if (egress ? !is_dns_port(l.dport) : !is_dns_port(l.sport))
		return;
	if (fast == 2 && parse_l4(skb, &l))
		return; /* TCP: the message's offset needs the whole header */
	struct dns_header h;
	if (window_read(skb, &w, l.dns_off, &h, sizeof(h))) {
		/* A TCP segment without DNS (handshake, ACK) is not malformed. */
		malformed_if(!l.tcp, MAL_TRUNCATED);
		return;
	}
	__u16 flags = bpf_ntohs(h.flags);
	int response = flags >> 15;
	if (response == egress)
		return; /* a response sent or a query received: a server's side */
	if (h.qdcount == 0) {
		malformed_if(!l.tcp, MAL_NO_QUESTION);
		return;
	}
	int qt = question_qtype(skb, &w, l.dns_off, !l.tcp);
	if (qt < 0)
		return;
	__u32 qtype = qtype_enum(qt);
	__u64 cgroup = socket_cgroup(skb);
	struct pending_key pk = { .cookie = bpf_get_socket_cookie(skb), .id = h.id };
	struct counter_key ck = { .id = cgroup };

	if (egress) {
		ck.event = EVENT(DNS_QUERY, qtype, 0, l.tcp, l.ipv6);
		counter_add_fold(&dns_counts, &dns_counts_overflow, &lost_events, &ck, 1);
		struct pending_query q = {
			.ts = bpf_ktime_get_ns(),
			.cgroup = cgroup,
			.labels = HIST_LABELS(qtype, l.tcp, l.ipv6),
		};
		track(&pk, &q);
		return;
	}
	ck.event = EVENT(DNS_RESPONSE, qtype, rcode_enum(flags), l.tcp, l.ipv6);
	counter_add_fold(&dns_counts, &dns_counts_overflow, &lost_events, &ck, 1);
	if (flags & 0x0200) { /* TC: truncated, the client retries over TCP */
		ck.event = EVENT(DNS_TRUNCATED, qtype, 0, 0, l.ipv6);
		counter_add_fold(&dns_counts, &dns_counts_overflow, &lost_events, &ck, 1);
	}
	struct pending_query *q = bpf_map_lookup_elem(&dns_pending, &pk);
	if (!q)
		return; /* reaped as unanswered, or sent before we attached */
	__u64 delta = bpf_ktime_get_ns() - q->ts;
	struct hist_key hk = { .id = q->cgroup, .labels = q->labels, .bucket = hist_bucket_ns(delta) };
	__u64 owner = q->cgroup;
	if (bpf_map_delete_elem(&dns_pending, &pk))
		return; /* a duplicate response, or the reaper, took it first */
	finished(owner);
	/*
	 * Names only of answers to queries of this socket: responses nobody
	 * asked for (spoofed, flooding a socket) never reach user space.
	 */
	if (capture_nxdomain_names && rcode_enum(flags) == RC_NXDOMAIN)
		capture_name(skb, l.dns_off + DNS_HEADER_LEN, cgroup);
	hist_add_fold(&dns_latency, &dns_latency_overflow, &lost_events, &hk, delta);
}

SEC("cgroup_skb/egress")
int dns_egress(struct __sk_buff *skb)
{
	handle(skb, 1);
	return 1;
}

SEC("cgroup_skb/ingress")
int dns_ingress(struct __sk_buff *skb)
{
	handle(skb, 0);
	return 1;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
