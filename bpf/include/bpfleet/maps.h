/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Map shapes and update helpers shared by every bpfleet program.
 *
 * Counters and histograms live in shared hash maps (BPF_MAP_TYPE_HASH)
 * keyed by an attribution id (a cgroup v2 id, or a device number) and a
 * small collector-defined enum that encodes the closed label values. Every
 * CPU adds to the same value with atomic adds (__sync_fetch_and_add, BPF
 * atomics), so a map costs rows x (element + key + value) of kernel memory
 * whatever the number of CPUs, and a scrape reads one value per row
 * (internal/maps). Per-CPU hash maps, used before, hold one value per
 * possible CPU for every row: 65,536 histogram rows were 256 MiB on a
 * 256-CPU node, and a scrape read 256 values per row. The price is a
 * locked add on a cache line that CPUs updating the same row share
 * (BENCHMARKS.md, "Kernel map memory by CPU count", has the per-event
 * cost). A failed insert (map full) is never silent: it is counted in the
 * program's lost_events array under LOST_MAP_FULL.
 *
 * A row is inserted with BPF_NOEXIST carrying the event's own value; when
 * another CPU inserted the key first (-EEXIST), the event is added to that
 * row instead, so no event is lost to the race.
 *
 * Per-workload maps fold instead of losing: each has a small companion map
 * <name>_overflow (DECLARE_COUNTER_OVERFLOW, DECLARE_HIST_OVERFLOW) with the
 * same key and value, and counter_add_fold/hist_add_fold add an event that
 * finds the main map full there, under id 0, for every workload alike. User
 * space serves those rows as the metric's overflow series, so the totals
 * stay right however many workloads come: a workload's own series only
 * stop growing once the map is full. Only when the companion map is full
 * too (more distinct events than OVERFLOW_ROWS) is an event lost.
 *
 * The main maps stay preallocated: their hooks (sched_switch, tracepoints)
 * then never allocate, and an insert fails only when every row is taken.
 */
#ifndef BPFLEET_MAPS_H
#define BPFLEET_MAPS_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#ifndef E2BIG
#define E2BIG 7
#endif
#ifndef EEXIST
#define EEXIST 17
#endif

/* Reasons in the lost_events array; internal/maps names them. */
enum lost_reason {
	LOST_MAP_FULL = 0,     /* a counter or histogram insert failed */
	LOST_START_FULL = 1,   /* a start timestamp could not be stored: one latency sample lost */
	LOST_RINGBUF_FULL = 2, /* a ring buffer reservation failed */
	LOST_REASONS = 3,
};

/* Key of a per-workload counter: one series per (id, event). */
struct counter_key {
	__u64 id;    /* cgroup v2 id (0: not attributable) or device number */
	__u32 event; /* collector-defined: metric and closed label values */
	__u32 pad;
};

/* Key of one histogram bucket of one series. */
struct hist_key {
	__u64 id;      /* as in counter_key */
	__u32 labels;  /* collector-defined closed label values */
	__s32 bucket;  /* native histogram bucket index, or HIST_BUCKET_ZERO */
};

/* Value of one histogram bucket: observations in it and their raw sum. */
struct hist_value {
	__u64 count;
	__u64 sum;
};

/* Declares the per-program lost-event counters. */
#define DECLARE_LOST_EVENTS                                       \
	struct {                                                  \
		__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);          \
		__uint(max_entries, LOST_REASONS);                \
		__type(key, __u32);                               \
		__type(value, __u64);                             \
	} lost_events SEC(".maps")

static __always_inline void lost_event(void *lost_map, __u32 reason)
{
	__u64 *v = bpf_map_lookup_elem(lost_map, &reason);
	if (v)
		*v += 1;
}

/*
 * counter_add_row atomically adds n to key in a hash map of __u64,
 * inserting the key when it is new. Returns 0, or the insert's error (map
 * full).
 */
static __always_inline long counter_add_row(void *map, const void *key, __u64 n)
{
	__u64 *v = bpf_map_lookup_elem(map, key);
	if (v) {
		__sync_fetch_and_add(v, n);
		return 0;
	}
	long err = bpf_map_update_elem(map, key, &n, BPF_NOEXIST);
	if (err == -EEXIST) {
		v = bpf_map_lookup_elem(map, key);
		if (v) {
			__sync_fetch_and_add(v, n);
			return 0;
		}
	}
	return err;
}

/*
 * counter_add adds n to key in a hash map of __u64. Returns 0, or
 * counts LOST_MAP_FULL and returns -1.
 */
static __always_inline int counter_add(void *map, void *lost_map, const void *key, __u64 n)
{
	if (counter_add_row(map, key, n)) {
		lost_event(lost_map, LOST_MAP_FULL);
		return -1;
	}
	return 0;
}

/*
 * hist_add_row records one observation of raw value val (nanoseconds for
 * latencies) in key's bucket of a hash map of struct hist_value, with one
 * atomic add to each field (a scrape may read a row between the two: the
 * next scrape sees both). Returns 0, or the insert's error (map full).
 */
static __always_inline long hist_add_row(void *map, const struct hist_key *key, __u64 val)
{
	struct hist_value *v = bpf_map_lookup_elem(map, key);
	if (v) {
		__sync_fetch_and_add(&v->count, 1);
		__sync_fetch_and_add(&v->sum, val);
		return 0;
	}
	struct hist_value init = { .count = 1, .sum = val };
	long err = bpf_map_update_elem(map, key, &init, BPF_NOEXIST);
	if (err == -EEXIST) {
		v = bpf_map_lookup_elem(map, key);
		if (v) {
			__sync_fetch_and_add(&v->count, 1);
			__sync_fetch_and_add(&v->sum, val);
			return 0;
		}
	}
	return err;
}

/* hist_add is hist_add_row that counts LOST_MAP_FULL and returns -1. */
static __always_inline int hist_add(void *map, void *lost_map, struct hist_key *key, __u64 val)
{
	if (hist_add_row(map, key, val)) {
		lost_event(lost_map, LOST_MAP_FULL);
		return -1;
	}
	return 0;
}

/*
 * Rows of an overflow map: distinct (event) or (labels, bucket) values.
 * Not preallocated: a companion costs kernel memory only once its map has
 * filled, and then only for the rows it holds.
 */
#define OVERFLOW_ROWS 4096

#define DECLARE_COUNTER_OVERFLOW(name)                     \
	struct {                                           \
		__uint(type, BPF_MAP_TYPE_HASH);           \
		__uint(max_entries, OVERFLOW_ROWS);        \
		__uint(map_flags, BPF_F_NO_PREALLOC);      \
		__type(key, struct counter_key);           \
		__type(value, __u64);                      \
	} name##_overflow SEC(".maps")

#define DECLARE_HIST_OVERFLOW(name)                        \
	struct {                                           \
		__uint(type, BPF_MAP_TYPE_HASH);           \
		__uint(max_entries, OVERFLOW_ROWS);        \
		__uint(map_flags, BPF_F_NO_PREALLOC);      \
		__type(key, struct hist_key);              \
		__type(value, struct hist_value);          \
	} name##_overflow SEC(".maps")

/*
 * counter_add_fold adds n to key in map, or, when map is full, to key's
 * event under id 0 in overflow. Returns 0, or counts LOST_MAP_FULL and
 * returns -1 when both are full.
 */
static __always_inline int counter_add_fold(void *map, void *overflow, void *lost_map, const struct counter_key *key, __u64 n)
{
	if (!counter_add_row(map, key, n))
		return 0;
	struct counter_key folded = { .event = key->event };
	return counter_add(overflow, lost_map, &folded, n);
}

/*
 * hist_add_fold records val in key's bucket of map, or, when map is full,
 * in the same labels and bucket under id 0 in overflow.
 */
static __always_inline int hist_add_fold(void *map, void *overflow, void *lost_map, struct hist_key *key, __u64 val)
{
	if (!hist_add_row(map, key, val))
		return 0;
	struct hist_key folded = { .labels = key->labels, .bucket = key->bucket };
	return hist_add(overflow, lost_map, &folded, val);
}

/*
 * WORKLOAD_ROW_ADD adds cnt to counter idx of id's row in map, a hash of one
 * row per workload (key __u64 id, value_type a struct holding its counters
 * as __u64 n[]), or, when map is full, to event idx under id 0 in overflow (a
 * DECLARE_COUNTER_OVERFLOW companion). A missing row is inserted with the
 * events in it; when another CPU inserted it first (-EEXIST), they are
 * added to that row. The caller bounds idx by the counters a row holds. A
 * macro, so that the new row is built on the stack only when one is
 * inserted.
 */
#define WORKLOAD_ROW_ADD(map, overflow, lost_map, id, value_type, idx, cnt)                     \
	do {                                                                                     \
		__u64 row_id_ = (id);                                                            \
		value_type *row_ = bpf_map_lookup_elem(map, &row_id_);                           \
		if (!row_) {                                                                     \
			value_type init_ = {};                                                   \
			init_.n[idx] = (cnt);                                                    \
			long err_ = bpf_map_update_elem(map, &row_id_, &init_, BPF_NOEXIST);      \
			if (!err_)                                                               \
				break;                                                           \
			if (err_ == -EEXIST) /* another CPU inserted it first */                \
				row_ = bpf_map_lookup_elem(map, &row_id_);                       \
		}                                                                                \
		if (row_) {                                                                      \
			__sync_fetch_and_add(&row_->n[idx], (cnt));                              \
			break;                                                                   \
		}                                                                                \
		struct counter_key folded_ = { .event = (idx) };                                 \
		counter_add(overflow, lost_map, &folded_, (cnt));                                \
	} while (0)

#endif /* BPFLEET_MAPS_H */
