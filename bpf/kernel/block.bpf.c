//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * block: block I/O latency from issue to completion, per device and
 * operation, as a native histogram.
 *
 * Classic tracepoints with no CO-RE: this collector works on kernels without
 * BTF. The context layouts below are those of the tracepoints' format files;
 * collector/block.go checks them against the running kernel's format files
 * before loading and refuses a kernel whose layout differs.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "bpfleet/maps.h"
#include "bpfleet/histogram.h"

/* hist_key.labels values; collector/block.go names them from the generated constants. */
enum block_op {
	EV_BLOCK_OP_READ = 0,
	EV_BLOCK_OP_WRITE = 1,
	EV_BLOCK_OP_FLUSH = 2,
	EV_BLOCK_OP_DISCARD = 3,
	EV_BLOCK_OP_OTHER = 4,
};

/* Keep the enum in BTF for bpf2go's -type (collector/gen.go). */
const enum block_op *unused_block_op __attribute__((unused));

/* The fields used of block:block_rq_issue and block:block_rq_complete. */
struct block_rq_ctx {
	__u64 common;
	__u32 dev;
	__u32 pad;
	__u64 sector;
	__u32 nr_sector;
	__u32 bytes_or_error;
	__u16 ioprio;
	char rwbs[10];
};

struct request_id {
	__u64 sector;
	__u32 dev;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct request_id);
	__type(value, __u64);
} block_issued SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, struct hist_key);
	__type(value, struct hist_value);
} block_latency SEC(".maps");

DECLARE_LOST_EVENTS;

static __always_inline enum block_op op_of(char c)
{
	switch (c) {
	case 'R':
		return EV_BLOCK_OP_READ;
	case 'W':
		return EV_BLOCK_OP_WRITE;
	case 'D':
		return EV_BLOCK_OP_DISCARD;
	case 'F':
		return EV_BLOCK_OP_FLUSH;
	}
	return EV_BLOCK_OP_OTHER;
}

/* rwbs starts with 'F' for a preflush, then the operation's letter. */
static __always_inline enum block_op block_op(const char *rwbs)
{
	if (rwbs[0] == 'F' && (rwbs[1] == 'R' || rwbs[1] == 'W' || rwbs[1] == 'D'))
		return op_of(rwbs[1]);
	return op_of(rwbs[0]);
}

SEC("tracepoint/block/block_rq_issue")
int block_rq_issue(struct block_rq_ctx *ctx)
{
	struct request_id id = { .sector = ctx->sector, .dev = ctx->dev };
	__u64 ts = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&block_issued, &id, &ts, BPF_ANY))
		lost_event(&lost_events, LOST_START_FULL);
	return 0;
}

SEC("tracepoint/block/block_rq_complete")
int block_rq_complete(struct block_rq_ctx *ctx)
{
	struct request_id id = { .sector = ctx->sector, .dev = ctx->dev };
	__u64 *issued = bpf_map_lookup_elem(&block_issued, &id);
	if (!issued)
		return 0; /* issued before we attached */
	__u64 delta = bpf_ktime_get_ns() - *issued;
	bpf_map_delete_elem(&block_issued, &id);
	char rwbs[2];
	rwbs[0] = ctx->rwbs[0];
	rwbs[1] = ctx->rwbs[1];
	struct hist_key key = {
		.id = id.dev,
		.labels = block_op(rwbs),
		.bucket = hist_bucket_ns(delta),
	};
	hist_add(&block_latency, &lost_events, &key, delta);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
