// SPDX-License-Identifier: (MIT OR Apache-2.0) AND GPL-2.0-only
/* portscope's owners iterator: one pass over every task's descriptor table, in the kernel.
 *
 * An iter/task_file program runs once per open file of every task on the machine (all pid
 * namespaces; pids are the init namespace's). The kernel visits a thread only when its file
 * table differs from its group leader's, so a process whose threads share one table (the usual
 * case) is read once. For each file it writes one fixed-size `struct ps_owner_rec` with
 * bpf_seq_write: binary, so userspace parses without text and the kernel formats nothing.
 *
 * Every file is written, not only sockets: userspace replays exactly what the /proc/PID/fd walk
 * would have done (which tasks have a table at all, which thread answers for a process whose
 * leader has exited), and the file type travels with each record.
 *
 * CO-RE: task_struct, file and inode fields are read through preserve_access_index relocations,
 * so the object loads on other kernels with BTF. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

/* The record: keep in step with crates/portscope-linux/src/owners/record.rs. */
struct ps_owner_rec {
	__u32 tgid;  /* process id (init pid namespace) */
	__u32 tid;   /* the task whose table this is */
	__u32 fd;
	__u32 mode;  /* inode i_mode: the file type in S_IFMT */
	__u64 ino;   /* inode number: a socket's is the inode sock_diag reports */
};

char LICENSE[] SEC("license") = "GPL";

SEC("iter/task_file")
int ps_owners(struct bpf_iter__task_file *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct file *file = ctx->file;
	struct ps_owner_rec rec = {};
	struct inode *inode;

	if (!task || !file)
		return 0;
	inode = file->f_inode;
	if (!inode)
		return 0;
	rec.tgid = task->tgid;
	rec.tid = task->pid;
	rec.fd = ctx->fd;
	rec.mode = inode->i_mode;
	rec.ino = inode->i_ino;
	bpf_seq_write(seq, &rec, sizeof(rec));
	return 0;
}
