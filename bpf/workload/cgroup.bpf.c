//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * cgroup: tells user space the path of every new cgroup v2 directory at
 * mkdir time, so that workloads that live shorter than a scrape interval
 * (a container that is OOM-killed and removed) keep their labels after
 * their cgroup is gone, and every removal at rmdir time, so that user space
 * knows which cgroups are alive without asking the kernel at every scrape.
 * Rare events, so a ring buffer; every record that does not fit is counted
 * under LOST_RINGBUF_FULL.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "bpfleet/maps.h"

#define CGROUP_PATH_MAX 512

enum cgroup_event_kind {
	CGROUP_MADE = 0,
	CGROUP_REMOVED = 1,
};

struct cgroup_event {
	__u64 id;
	__u32 kind; /* enum cgroup_event_kind */
	__u32 pad;
	char path[CGROUP_PATH_MAX];
};

/* Emit the record's BTF, so that bpf2go generates its Go side. */
const struct cgroup_event *unused_cgroup_event __attribute__((unused));
const enum cgroup_event_kind *unused_cgroup_event_kind __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} cgroup_events SEC(".maps");

DECLARE_LOST_EVENTS;

static __always_inline void send(struct cgroup *cgrp, const char *path, __u32 kind)
{
	if (BPF_CORE_READ(cgrp, root, hierarchy_id) != 0)
		return; /* a cgroup v1 hierarchy */
	struct cgroup_event *ev = bpf_ringbuf_reserve(&cgroup_events, sizeof(*ev), 0);
	if (!ev) {
		lost_event(&lost_events, LOST_RINGBUF_FULL);
		return;
	}
	ev->id = BPF_CORE_READ(cgrp, kn, id);
	ev->kind = kind;
	ev->pad = 0;
	bpf_probe_read_kernel_str(ev->path, sizeof(ev->path), path);
	bpf_ringbuf_submit(ev, 0);
}

SEC("tp_btf/cgroup_mkdir")
int BPF_PROG(cgroup_mkdir, struct cgroup *cgrp, const char *path)
{
	send(cgrp, path, CGROUP_MADE);
	return 0;
}

SEC("tp_btf/cgroup_rmdir")
int BPF_PROG(cgroup_rmdir, struct cgroup *cgrp, const char *path)
{
	send(cgrp, path, CGROUP_REMOVED);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
