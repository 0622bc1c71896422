/* The one layout that cpuprofile.bpf.c writes and src/commands/cpuprofile-reader.ts reads.
 * Plain C with UAPI types, so a test can compile it with the host compiler and check the
 * TypeScript reader's offsets against it. */
#ifndef EBPF_OTEL_CPUPROFILE_H
#define EBPF_OTEL_CPUPROFILE_H

#include <linux/types.h>

#define CPUPROFILE_MAX_STACK_DEPTH 127
#define CPUPROFILE_COMM_LEN 16

/* Key of the `counts` map: one entry per (thread, stacks) seen. A stack id below zero means
 * no stack was taken: not asked for (-U/-K), none exists (a kernel thread has no user stack), or
 * the stack map was full or collided (counted in `stats`). */
struct cpuprofile_key {
	__u32 tgid;
	__u32 pid;
	__s32 user_stack_id;
	__s32 kernel_stack_id;
	char comm[CPUPROFILE_COMM_LEN];
	/* user_stack_id CPUPROFILE_STACK_UNWOUND: the user stack's key in `user_stacks` (unwind.h) */
	__u64 user_stack_hash;
};

/* Slots of the per-CPU `stats` array. */
enum cpuprofile_stat {
	CPUPROFILE_STAT_SAMPLES = 0,      /* samples that passed the filters */
	CPUPROFILE_STAT_USER_LOST = 1,    /* user stack not stored: stack map full or hash collision */
	CPUPROFILE_STAT_KERNEL_LOST = 2,  /* kernel stack not stored: likewise */
	CPUPROFILE_STAT_COUNTS_FULL = 3,  /* sample dropped: the counts map was full */
	CPUPROFILE_STAT_COPIED = 4,       /* samples sent to user space as stack copies (--unwind) */
	CPUPROFILE_STAT_COPY_DROPPED = 5, /* stack copy not sent (ring buffer full): counted without user stack */
	CPUPROFILE_STAT_UNWOUND = 6,      /* samples whose user stack the kernel walked by learned rules (--unwind) */
	CPUPROFILE_STAT_COUNT = 7,
};

/* user_stack_id of a sample whose stack copy could not be sent (user space shows it as missed). */
#define CPUPROFILE_STACK_DROPPED (-2)
/* user_stack_id of a sample whose user stack the kernel walked by learned rules: the stack is in
 * `user_stacks` under user_stack_hash. */
#define CPUPROFILE_STACK_UNWOUND (-4)

#endif
