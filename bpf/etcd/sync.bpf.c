//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * sync: latency of fsync, fdatasync and sync_file_range of the etcd
 * process(es) whose tgid is in sync_targets, from syscall entry to exit,
 * as a native histogram per syscall, aggregated in the kernel; and the
 * bytes those processes write (write, pwrite64, writev, pwritev,
 * pwritev2) per file descriptor, which user space names (wal, snap, db).
 *
 * Classic syscall tracepoints and no CO-RE: the programs read nothing of
 * their context, so they work on kernels without BTF (5.7 or later, for
 * bpf_get_ns_current_pid_tgid).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "bpfleet/maps.h"
#include "bpfleet/histogram.h"

/* hist_key.labels values; etcd_exporter/collector/sync.go names them. */
enum sync_syscall {
	SYNC_FSYNC = 0,
	SYNC_FDATASYNC = 1,
	SYNC_FILE_RANGE = 2,
};

/* Keep the enum in BTF for bpf2go's -type. */
const enum sync_syscall *unused_sync_syscall __attribute__((unused));

/*
 * The pid namespace of the exporter (st_dev and st_ino of
 * /proc/self/ns/pid, set at load): sync_targets holds pids as the
 * exporter's /proc shows them, which differ from the kernel's global ones
 * when the exporter runs in a container (a sidecar sharing the pod's
 * process namespace).
 */
const volatile __u64 pidns_dev = 0;
const volatile __u64 pidns_ino = 0;

/* The processes to watch: tgid (in the exporter's pid namespace) → 1, written by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u8);
} sync_targets SEC(".maps");

struct sync_start {
	__u64 ts;
	__u32 syscall;
	__u32 pad;
};

/* A thread in a sync syscall: pid_tgid → its start. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct sync_start);
} sync_started SEC(".maps");

/*
 * One row per (syscall, bucket): schema-3 buckets from 1 µs to 10 s are
 * about 190 per syscall, so 64 rows filled up (and lost samples) as soon as
 * latencies spread; 1,024 hold every bucket of all three.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct hist_key);
	__type(value, struct hist_value);
} sync_latency SEC(".maps");

DECLARE_LOST_EVENTS;

/* A thread in a write syscall of a target: pid_tgid → (tgid in the
 * exporter's pid namespace) << 32 | fd. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} write_started SEC(".maps");

/* Bytes written: (tgid << 32 | fd) → bytes. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} write_bytes SEC(".maps");

/* target_tgid returns the current task's tgid in the exporter's pid
 * namespace when it is a target, else 0. */
static __always_inline __u32 target_tgid(void)
{
	struct bpf_pidns_info ns = {};
	if (bpf_get_ns_current_pid_tgid(pidns_dev, pidns_ino, &ns, sizeof(ns)))
		return 0; /* a task outside the exporter's pid namespace */
	__u32 tgid = ns.tgid;
	if (!bpf_map_lookup_elem(&sync_targets, &tgid))
		return 0;
	return tgid;
}

static __always_inline int sync_enter(__u32 syscall)
{
	__u64 id = bpf_get_current_pid_tgid();
	if (!target_tgid())
		return 0;
	struct sync_start start = { .ts = bpf_ktime_get_ns(), .syscall = syscall };
	if (bpf_map_update_elem(&sync_started, &id, &start, BPF_ANY))
		lost_event(&lost_events, LOST_START_FULL);
	return 0;
}

static __always_inline int sync_exit(void)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sync_start *start = bpf_map_lookup_elem(&sync_started, &id);
	if (!start)
		return 0;
	__u64 delta = bpf_ktime_get_ns() - start->ts;
	struct hist_key key = {
		.id = 0,
		.labels = start->syscall,
		.bucket = hist_bucket_ns(delta),
	};
	bpf_map_delete_elem(&sync_started, &id);
	hist_add(&sync_latency, &lost_events, &key, delta);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_fsync")
int sync_enter_fsync(void *ctx) { return sync_enter(SYNC_FSYNC); }

SEC("tracepoint/syscalls/sys_exit_fsync")
int sync_exit_fsync(void *ctx) { return sync_exit(); }

SEC("tracepoint/syscalls/sys_enter_fdatasync")
int sync_enter_fdatasync(void *ctx) { return sync_enter(SYNC_FDATASYNC); }

SEC("tracepoint/syscalls/sys_exit_fdatasync")
int sync_exit_fdatasync(void *ctx) { return sync_exit(); }

SEC("tracepoint/syscalls/sys_enter_sync_file_range")
int sync_enter_sync_file_range(void *ctx) { return sync_enter(SYNC_FILE_RANGE); }

SEC("tracepoint/syscalls/sys_exit_sync_file_range")
int sync_exit_sync_file_range(void *ctx) { return sync_exit(); }

static __always_inline int write_enter(struct trace_event_raw_sys_enter *ctx)
{
	__u32 tgid = target_tgid();
	if (!tgid)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	__u64 key = (__u64)tgid << 32 | (__u32)ctx->args[0];
	if (bpf_map_update_elem(&write_started, &id, &key, BPF_ANY))
		lost_event(&lost_events, LOST_START_FULL);
	return 0;
}

static __always_inline int write_exit(struct trace_event_raw_sys_exit *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u64 *key = bpf_map_lookup_elem(&write_started, &id);
	if (!key)
		return 0;
	__u64 k = *key;
	bpf_map_delete_elem(&write_started, &id);
	if (ctx->ret <= 0)
		return 0;
	counter_add(&write_bytes, &lost_events, &k, ctx->ret);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int write_enter_write(struct trace_event_raw_sys_enter *ctx) { return write_enter(ctx); }

SEC("tracepoint/syscalls/sys_exit_write")
int write_exit_write(struct trace_event_raw_sys_exit *ctx) { return write_exit(ctx); }

SEC("tracepoint/syscalls/sys_enter_pwrite64")
int write_enter_pwrite64(struct trace_event_raw_sys_enter *ctx) { return write_enter(ctx); }

SEC("tracepoint/syscalls/sys_exit_pwrite64")
int write_exit_pwrite64(struct trace_event_raw_sys_exit *ctx) { return write_exit(ctx); }

SEC("tracepoint/syscalls/sys_enter_writev")
int write_enter_writev(struct trace_event_raw_sys_enter *ctx) { return write_enter(ctx); }

SEC("tracepoint/syscalls/sys_exit_writev")
int write_exit_writev(struct trace_event_raw_sys_exit *ctx) { return write_exit(ctx); }

SEC("tracepoint/syscalls/sys_enter_pwritev")
int write_enter_pwritev(struct trace_event_raw_sys_enter *ctx) { return write_enter(ctx); }

SEC("tracepoint/syscalls/sys_exit_pwritev")
int write_exit_pwritev(struct trace_event_raw_sys_exit *ctx) { return write_exit(ctx); }

SEC("tracepoint/syscalls/sys_enter_pwritev2")
int write_enter_pwritev2(struct trace_event_raw_sys_enter *ctx) { return write_enter(ctx); }

SEC("tracepoint/syscalls/sys_exit_pwritev2")
int write_exit_pwritev2(struct trace_event_raw_sys_exit *ctx) { return write_exit(ctx); }

char LICENSE[] SEC("license") = "Dual BSD/GPL";
