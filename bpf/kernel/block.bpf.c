//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * block: block I/O latency from issue to completion, per device and
 * operation, as a native histogram.
 *
 * Two designs; collector/block.go loads one of them:
 * - with kernel BTF, tp_btf programs that read the request itself: a queue
 *   that keeps I/O statistics (QUEUE_FLAG_STATS, set by writeback throttling
 *   and other blk-stat users) stamps rq->io_start_time_ns right after
 *   block_rq_issue, so its completions need no table. That stamp is the
 *   time blk-stat and writeback throttling use: the submitter's plug may
 *   have cached it a few microseconds before the issue. Requests of other
 *   queues go through block_issued, keyed by device and sector, as below.
 *   One sample per request at its last completion event (the classic
 *   design samples the first; they differ only for partial completions).
 * - classic tracepoints with no CO-RE otherwise: this collector works on
 *   kernels without BTF. The context layouts below are those of the
 *   tracepoints' format files; collector/block.go checks them against the
 *   running kernel's format files before loading and refuses a kernel whose
 *   layout differs.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
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
	__uint(type, BPF_MAP_TYPE_HASH);
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

/*
 * The BTF design. The bit numbers of QUEUE_FLAG_STATS (an anonymous enum)
 * and of RQF_STATS are the running kernel's, set by collector/block.go from
 * its BTF before loading.
 */
const volatile __u32 queue_flag_stats = 0;
const volatile __u32 rqf_stats = 0;

/* The device number the block tracepoints report: the disk's, not the partition's. */
static __always_inline __u32 request_dev(struct request *rq)
{
	struct gendisk *disk = rq->q->disk;
	if (!disk)
		return 0;
	return (__u32)disk->major << 20 | (__u32)disk->first_minor;
}

static __always_inline bool passthrough(__u32 op)
{
	return op == bpf_core_enum_value(enum req_op, REQ_OP_DRV_IN) ||
	       op == bpf_core_enum_value(enum req_op, REQ_OP_DRV_OUT);
}

/* block_op names the operation of cmd_flags as block_op(rwbs) does for the
 * rwbs the tracepoints derive from them (blk_fill_rwbs). */
static __always_inline enum block_op request_op(__u32 cmd_flags)
{
	__u32 op = cmd_flags & 0xff; /* REQ_OP_MASK */
	if (op == bpf_core_enum_value(enum req_op, REQ_OP_READ))
		return EV_BLOCK_OP_READ;
	if (op == bpf_core_enum_value(enum req_op, REQ_OP_WRITE))
		return EV_BLOCK_OP_WRITE;
	if (op == bpf_core_enum_value(enum req_op, REQ_OP_DISCARD) ||
	    op == bpf_core_enum_value(enum req_op, REQ_OP_SECURE_ERASE))
		return EV_BLOCK_OP_DISCARD;
	if (op == bpf_core_enum_value(enum req_op, REQ_OP_FLUSH) ||
	    cmd_flags & 1u << bpf_core_enum_value(enum req_flag_bits, __REQ_PREFLUSH))
		return EV_BLOCK_OP_FLUSH;
	return EV_BLOCK_OP_OTHER;
}

SEC("tp_btf/block_rq_issue")
int BPF_PROG(block_rq_issue_btf, struct request *rq)
{
	__u32 cmd_flags = rq->cmd_flags;
	if ((rq->q->queue_flags & 1ul << queue_flag_stats) && !passthrough(cmd_flags & 0xff))
		return 0; /* the kernel stamps io_start_time_ns next */
	struct request_id id = { .sector = rq->__sector, .dev = request_dev(rq) };
	__u64 ts = bpf_ktime_get_ns();
	if (bpf_map_update_elem(&block_issued, &id, &ts, BPF_ANY))
		lost_event(&lost_events, LOST_START_FULL);
	return 0;
}

/*
 * One sample per request, at its last completion event: a partial
 * completion (nr_bytes short of what the request has left) is skipped.
 */
SEC("tp_btf/block_rq_complete")
int BPF_PROG(block_rq_complete_btf, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	if (nr_bytes < rq->__data_len)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 issued;
	__u32 dev = request_dev(rq);
	if (rq->rq_flags & 1u << rqf_stats) {
		issued = rq->io_start_time_ns;
	} else {
		struct request_id id = { .sector = rq->__sector, .dev = dev };
		__u64 *ts = bpf_map_lookup_elem(&block_issued, &id);
		if (!ts)
			return 0; /* issued before we attached */
		issued = *ts;
		bpf_map_delete_elem(&block_issued, &id);
	}
	__u64 delta = now - issued;
	struct hist_key key = {
		.id = dev,
		.labels = request_op(rq->cmd_flags),
		.bucket = hist_bucket_ns(delta),
	};
	hist_add(&block_latency, &lost_events, &key, delta);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
