/* The one layout that offcpu.bpf.c writes and src/commands/offcpu-reader.ts reads. Plain C with
 * UAPI types, so a test can compile it with the host compiler and check the TypeScript reader's
 * offsets against it. */
#ifndef EBPF_OTEL_OFFCPU_H
#define EBPF_OTEL_OFFCPU_H

#include <linux/types.h>

#define OFFCPU_MAX_STACK_DEPTH 127
#define OFFCPU_COMM_LEN 16

/* Key of the `counts` map: one entry per (thread, stacks) seen blocking. A stack id below zero
 * means no stack was taken: -1 not asked for (-U/-K), -14 (-EFAULT) none exists (a kernel thread
 * has no user stack), anything else the stack map was full or collided (counted in `stats`). */
struct offcpu_key {
	__u32 tgid;
	__u32 pid; /* thread id */
	__s32 user_stack_id;
	__s32 kernel_stack_id;
	char comm[OFFCPU_COMM_LEN]; /* thread name when it was switched out */
	/* user_stack_id OFFCPU_STACK_UNWOUND: the user stack's key in `user_stacks` (unwind.h) */
	__u64 user_stack_hash;
};

/* Value of the `counts` map. */
struct offcpu_value {
	__u64 total_ns; /* time spent off-CPU, summed over the blocks */
	__u64 count;    /* number of blocks summed */
};

/* Value of the `start` map (keyed by thread id): what was seen at switch-out. */
struct offcpu_start {
	__u64 start_ns; /* bpf_ktime_get_ns() at switch-out */
	struct offcpu_key key;
	__u32 copied;   /* the user stack went to user space as a copy (--unwind dwarf|auto) */
	__u32 pad;
	/* For a block whose switch-in never reaches the program (offcpu.bpf.c, switch_out): the
	 * thread's CPU time so far (task->se.sum_exec_runtime), so that its next switch-out can
	 * subtract the time it ran meanwhile, and its creation time (task->start_time), so that a
	 * new thread reusing the id is not taken for it. */
	__u64 oncpu_ns;
	__u64 task_start_ns;
};

/* user_stack_id values of the copy path: the stack is in user space, or its copy (or its delta
 * record) could not be sent, so the block is counted here without a user stack. */
#define OFFCPU_STACK_COPIED (-3)
#define OFFCPU_STACK_DROPPED (-2)
/* user_stack_id of a block whose user stack the kernel walked by learned rules at switch-out: it
 * is in `user_stacks` under user_stack_hash, and the block is counted here. */
#define OFFCPU_STACK_UNWOUND (-4)

/* Slots of the per-CPU `stats` array. */
enum offcpu_stat {
	OFFCPU_STAT_BLOCKS = 0,       /* blocks accounted (passed every filter) */
	OFFCPU_STAT_USER_LOST = 1,    /* user stack not stored: stack map full or hash collision */
	OFFCPU_STAT_KERNEL_LOST = 2,  /* kernel stack not stored: likewise */
	OFFCPU_STAT_START_FULL = 3,   /* switch-out not recorded: the start map was full */
	OFFCPU_STAT_COUNTS_FULL = 4,  /* block dropped: the counts map was full */
	OFFCPU_STAT_OUT_OF_RANGE = 5, /* block shorter than -m or longer than -M */
	OFFCPU_STAT_COPY_DROPPED = 6, /* stack copy or delta record not sent (ring buffer full) */
	OFFCPU_STAT_UNWOUND = 7,      /* switch-outs whose user stack the kernel walked by learned rules */
	OFFCPU_STAT_SWITCH_IN_UNSEEN = 8, /* blocks closed at the next switch-out: no switch-in was seen */
	OFFCPU_STAT_COUNT = 9,
};

#endif
