/* What every ebpf-otel BPF program includes: the kernel's UAPI (stable across kernels, so taken
 * from the build machine's linux-libc-dev), libbpf's helpers, and the few kernel-internal types
 * the tools read through CO-RE. Those are declared here with only the fields we use; the
 * preserve_access_index attribute makes libbpf relocate every field access against the running
 * kernel's BTF, so layout differences between kernels do not matter. */
#ifndef EBPF_OTEL_COMMON_BPF_H
#define EBPF_OTEL_COMMON_BPF_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/bpf_perf_event.h>
#include <linux/errno.h>
#include <linux/in6.h>
#include <stdbool.h>

#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#define TASK_COMM_LEN 16

#pragma clang attribute push(__attribute__((preserve_access_index)), apply_to = record)

struct sched_entity {
	__u64 sum_exec_runtime; /* ns the task has run, updated at every switch-out */
};

struct task_struct {
	unsigned int flags;
	int pid;
	int tgid;
	char comm[TASK_COMM_LEN];
	struct sched_entity se;
	__u64 start_time; /* monotonic ns at creation */
};

/* Block layer (biolatency). The request's disk moved from rq->rq_disk to rq->q->disk in 5.17;
 * struct request___old (below) reads the old place. */
struct gendisk {
	int major;
	int first_minor;
};

struct request_queue {
	struct gendisk *disk;
};

struct request {
	struct request_queue *q;
	unsigned int cmd_flags; /* blk_opf_t: REQ_OP_* in the low bits, then __REQ_* flag bits */
};

struct request___old {
	struct gendisk *rq_disk;
};

/* Sockets (tcprtt). The sock_common fields sit in anonymous unions in the kernel; CO-RE finds
 * them by name through those. */
struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
};

struct sock {
	struct sock_common __sk_common;
};

struct tcp_sock {
	__u32 srtt_us; /* smoothed RTT << 3, in usecs */
};

#pragma clang attribute pop

/* task_struct->flags: a kernel thread (kthreadd's children, idle). */
#define PF_KTHREAD 0x00200000

/* Task state, as `ps` shows it (0 running or runnable, 1 TASK_INTERRUPTIBLE, 2
 * TASK_UNINTERRUPTIBLE, ...). Kernels since 5.14 call the field `unsigned int __state`; older ones
 * `volatile long state`. The ___flavor suffixes are stripped by libbpf when it relocates, so each
 * struct below matches the kernel's task_struct, and bpf_core_field_exists picks the field this
 * kernel has (the other access is dead code the loader removes). */
struct task_struct___state_new {
	unsigned int __state;
} __attribute__((preserve_access_index));

struct task_struct___state_old {
	long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(void *task)
{
	struct task_struct___state_new *t = task;

	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state);
	return BPF_CORE_READ((struct task_struct___state_old *)task, state);
}

/* Adds `delta` to a per-CPU counter slot; statistics maps are PERCPU_ARRAYs so counting never
 * contends between CPUs. */
static __always_inline void stat_add(void *map, __u32 slot, __u64 delta)
{
	__u64 *v = bpf_map_lookup_elem(map, &slot);
	if (v)
		*v += delta;
}

/* floor(log2(v)) for v > 0, branch-light (libbpf-tools bits.bpf.h). Not __builtin_clzll: clang
 * 14's BPF backend crashes on it. */
static __always_inline __u32 log2_u32(__u32 v)
{
	__u32 r, shift;
	r = (v > 0xFFFF) << 4;
	v >>= r;
	shift = (v > 0xFF) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xF) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	r |= (v >> 1);
	return r;
}

/* Slot of a log2 histogram as the model counts it (src/aggregate/model.ts): the bit length of
 * v, so slot 0 holds 0 and slot k holds 2^(k-1) <= v < 2^k; values beyond the last slot land in
 * it. */
static __always_inline __u32 log2_slot(__u64 v, __u32 slots)
{
	__u32 hi = v >> 32;
	__u32 s = !v ? 0 : hi ? log2_u32(hi) + 33 : log2_u32((__u32)v) + 1;
	return s < slots ? s : slots - 1;
}

#endif
