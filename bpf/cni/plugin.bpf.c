//go:build ignore
/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * plugin: CNI plugin invocations. At exec, a program whose file sits in one
 * of the plugin directories (plugin_dirs, filled by user space with each
 * directory's device and inode) is tracked by tgid: its start time is kept
 * and user space gets its name and the tail of its environment, where libcni
 * appends CNI_COMMAND. When the whole process exits, user space gets its
 * wait(2) status and how long it ran. Rare events, so a ring buffer; every
 * record that does not fit is counted under LOST_RINGBUF_FULL, every start
 * that cannot be kept under LOST_START_FULL.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "bpfleet/maps.h"

#define PLUGIN_NAME_MAX 64
#define PLUGIN_ENV_MAX 4096
#define SIGNAL_GROUP_EXIT 0x00000004

/* A directory: the kernel's s_dev encoding (major << 20 | minor) and inode. */
struct plugin_dir {
	__u64 ino;
	__u32 dev;
	__u32 pad;
};

enum plugin_event_kind {
	PLUGIN_EXEC = 1,
	PLUGIN_EXIT = 2,
};

/* First member of every record of plugin_events: user space reads it to
 * tell the records apart. */
struct plugin_event_header {
	enum plugin_event_kind kind;
	__u32 tgid;
};

struct plugin_exec_event {
	struct plugin_event_header hdr; /* PLUGIN_EXEC */
	__u32 env_len; /* bytes of env that hold the environment's tail */
	__u8 name[PLUGIN_NAME_MAX];
	__u8 env[PLUGIN_ENV_MAX];
};

struct plugin_exit_event {
	struct plugin_event_header hdr; /* PLUGIN_EXIT */
	__u32 status; /* as wait(2): low 7 bits a signal, bits 8-15 the exit code */
	__u32 pad;
	__u64 duration_ns;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct plugin_dir);
	__type(value, __u8);
} plugin_dirs SEC(".maps");

/* Start time of each running plugin process, by tgid. LRU: a process whose
 * exit is never seen cannot fill it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} plugin_starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} plugin_events SEC(".maps");

DECLARE_LOST_EVENTS;

/*
 * The rows of plugin_starts, or more: one more for each start inserted, one
 * less for each that an exit deletes (a row the LRU evicted stays counted).
 * While it is zero no process is tracked, and plugin_exit returns without
 * looking plugin_starts up: most exits are no plugin's, and that lookup, on
 * the map's memory that an exec leaves cold, was most of their cost
 * (BENCHMARKS.md, "Floor of a counting program").
 */
__u64 plugins_tracked = 0;

/* Keep the event types in BTF for bpf2go's -type. */
const struct plugin_exec_event *unused_exec_event __attribute__((unused));
const struct plugin_exit_event *unused_exit_event __attribute__((unused));

static __always_inline int is_plugin(struct file *file)
{
	struct inode *dir = file->f_path.dentry->d_parent->d_inode;
	struct plugin_dir key = { .ino = dir->i_ino, .dev = dir->i_sb->s_dev };
	return bpf_map_lookup_elem(&plugin_dirs, &key) != NULL;
}

/* read_env copies the last PLUGIN_ENV_MAX bytes of the new program's
 * environment, present in memory at exec time, and returns how many. */
static __always_inline __u32 read_env(struct task_struct *task, __u8 *buf)
{
	struct mm_struct *mm = task->mm;
	unsigned long start = mm->env_start, end = mm->env_end;
	if (end <= start)
		return 0;
	__u64 len = end - start;
	if (len > PLUGIN_ENV_MAX) {
		start = end - PLUGIN_ENV_MAX;
		len = PLUGIN_ENV_MAX;
	}
	if (bpf_probe_read_user(buf, len, (void *)start))
		return 0;
	return len;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(plugin_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct file *file = bprm->file;
	if (!is_plugin(file))
		return 0;
	struct plugin_exec_event *ev = bpf_ringbuf_reserve(&plugin_events, sizeof(*ev), 0);
	if (!ev) {
		lost_event(&lost_events, LOST_RINGBUF_FULL);
		return 0;
	}
	__u32 tgid = p->tgid;
	__u64 now = bpf_ktime_get_ns();
	long err = bpf_map_update_elem(&plugin_starts, &tgid, &now, BPF_NOEXIST);
	if (!err)
		__sync_fetch_and_add(&plugins_tracked, 1);
	else if (err == -EEXIST) /* a plugin exec'ing again: its start is the latest */
		err = bpf_map_update_elem(&plugin_starts, &tgid, &now, BPF_ANY);
	if (err) {
		lost_event(&lost_events, LOST_START_FULL);
		bpf_ringbuf_discard(ev, 0);
		return 0;
	}
	ev->hdr.kind = PLUGIN_EXEC;
	ev->hdr.tgid = tgid;
	bpf_probe_read_kernel_str(ev->name, sizeof(ev->name), file->f_path.dentry->d_name.name);
	ev->env_len = read_env(p, ev->env);
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

/* exit_status is the whole process's wait(2) status, as process.bpf.c reads
 * it: the group exit code when the group was told to exit, else the last
 * thread's own. */
static __always_inline __u32 exit_status(struct task_struct *p)
{
	struct signal_struct *sig = p->signal;
	if (sig && (sig->flags & SIGNAL_GROUP_EXIT))
		return sig->group_exit_code;
	return p->exit_code;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(plugin_exit, struct task_struct *p, bool group_dead)
{
	if (!group_dead || !plugins_tracked)
		return 0;
	__u32 tgid = p->tgid;
	__u64 *start = bpf_map_lookup_elem(&plugin_starts, &tgid);
	if (!start)
		return 0;
	__u64 duration = bpf_ktime_get_ns() - *start;
	if (!bpf_map_delete_elem(&plugin_starts, &tgid))
		__sync_fetch_and_add(&plugins_tracked, -1);
	struct plugin_exit_event *ev = bpf_ringbuf_reserve(&plugin_events, sizeof(*ev), 0);
	if (!ev) {
		lost_event(&lost_events, LOST_RINGBUF_FULL);
		return 0;
	}
	ev->hdr.kind = PLUGIN_EXIT;
	ev->hdr.tgid = tgid;
	ev->status = exit_status(p);
	ev->pad = 0;
	ev->duration_ns = duration;
	bpf_ringbuf_submit(ev, 0);
	return 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
