//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */

/*
 * Test-only programs for internal/histogram: bucket_batch runs
 * hist_bucket_ns over a batch of values through BPF_PROG_TEST_RUN, and
 * record_switch shows that the verifier accepts it, with hist_add, in a
 * sched_switch program.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "bpfleet/histogram.h"
#include "bpfleet/maps.h"

#define BATCH_LEN 16

/* Context of bucket_batch: in is read, out is written. */
struct batch {
	__u64 in[BATCH_LEN];
	__s32 out[BATCH_LEN];
};

SEC("syscall")
int bucket_batch(struct batch *b)
{
	/* Unrolled: the verifier rejects a syscall context at a variable offset. */
#pragma unroll
	for (int i = 0; i < BATCH_LEN; i++)
		b->out[i] = hist_bucket_ns(b->in[i]);
	return 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct hist_key);
	__type(value, struct hist_value);
} switch_hist SEC(".maps");

DECLARE_LOST_EVENTS;

/* record_switch records a pseudo-random value of random magnitude below 2^40, or 0. */
SEC("tp_btf/sched_switch")
int record_switch(__u64 *ctx)
{
	__u64 v = ((__u64)bpf_get_prandom_u32() << 8) >> (bpf_get_prandom_u32() & 31);
	struct hist_key key = { .bucket = hist_bucket_ns(v) };

	hist_add(&switch_hist, &lost_events, &key, v);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
