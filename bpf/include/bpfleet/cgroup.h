/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Cgroup attribution helpers. Every id here is a cgroup v2 (default
 * hierarchy) id, the inode number of the cgroup's directory in cgroup2fs:
 * user space maps it to a path with internal/workload. For tp_btf programs
 * (kernel BTF, CO-RE); 0 means "not attributable".
 */
#ifndef BPFLEET_CGROUP_H
#define BPFLEET_CGROUP_H

#include "vmlinux.h"
#include <bpf/bpf_core_read.h>

/*
 * task_cgroup_id returns the v2 cgroup id of task (not necessarily current).
 * For tp_btf programs, whose task pointers the verifier knows: the chain is
 * read with direct loads (a fault reads 0), far cheaper than a probe-read
 * helper call per pointer on hot hooks such as sched_switch.
 */
static __always_inline __u64 task_cgroup_id(struct task_struct *task)
{
	return task->cgroups->dfl_cgrp->kn->id;
}

/*
 * sock_cgroup_id returns the v2 cgroup id recorded in a full socket when it
 * was created (inherited by accepted children from the listener). Use it for
 * events in softirq or timer context, where current is whoever was
 * interrupted. Callers must pass a full socket (not a request or timewait
 * sock); see sk_is_full.
 */
static __always_inline __u64 sock_cgroup_id(const struct sock *sk)
{
	return sk->sk_cgrp_data.cgroup->kn->id; /* direct loads, as above */
}

#ifndef TCP_TIME_WAIT
#define TCP_TIME_WAIT 6
#endif
#ifndef TCP_NEW_SYN_RECV
#define TCP_NEW_SYN_RECV 12
#endif

/* sk_is_full reports whether sk is a full struct sock. */
static __always_inline int sk_is_full(const struct sock *sk)
{
	unsigned char state = sk->__sk_common.skc_state;
	return state != TCP_TIME_WAIT && state != TCP_NEW_SYN_RECV;
}

#endif /* BPFLEET_CGROUP_H */
