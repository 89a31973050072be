//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */

/*
 * Test-only programs for internal/maps: count and observe run
 * counter_add_fold and hist_add_fold (bpfleet/maps.h) on one event given
 * by the test through BPF_PROG_TEST_RUN, on maps of 4 rows.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "bpfleet/maps.h"

/* Context of both programs. */
struct event {
	__u64 id;
	__u32 event; /* counter_key.event, or hist_key.labels */
	__s32 bucket;
	__u64 value; /* added to the counter; the histogram's raw value */
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, struct counter_key);
	__type(value, __u64);
} counts SEC(".maps");
DECLARE_COUNTER_OVERFLOW(counts);

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, struct hist_key);
	__type(value, struct hist_value);
} latency SEC(".maps");
DECLARE_HIST_OVERFLOW(latency);

DECLARE_LOST_EVENTS;

SEC("syscall")
int count(struct event *e)
{
	struct counter_key key = { .id = e->id, .event = e->event };
	return counter_add_fold(&counts, &counts_overflow, &lost_events, &key, e->value);
}

SEC("syscall")
int observe(struct event *e)
{
	struct hist_key key = { .id = e->id, .labels = e->event, .bucket = e->bucket };
	return hist_add_fold(&latency, &latency_overflow, &lost_events, &key, e->value);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
