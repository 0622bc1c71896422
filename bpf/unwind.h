/* The records the BPF side sends user space when it copies a user stack instead of walking it
 * (--unwind dwarf|auto): the thread, its user registers and the top of its user stack. User space
 * (src/unwind/) unwinds them with the binaries' .eh_frame CFI. Plain C with UAPI types, so a test
 * compiles it with the host compiler and checks the TypeScript reader's offsets
 * (src/unwind/records.ts). */
#ifndef EBPF_OTEL_UNWIND_H
#define EBPF_OTEL_UNWIND_H

#include <linux/types.h>

/* Most bytes of user stack copied per record; `stack_copy_bytes` (a global of each tool) may ask
 * for fewer. The copy starts at the stack pointer and stops at the first unreadable page. */
#define UNWIND_STACK_COPY_MAX 16384
/* DWARF register numbers 0..16 of x86-64: rax rdx rcx rbx rsi rdi rbp rsp r8..r15, then the
 * return address column (rip). */
#define UNWIND_NREGS 17
#define UNWIND_COMM_LEN 16

/* What a record is (the first u32 of every record). */
enum unwind_record_kind {
	UNWIND_RECORD_STACK = 1, /* struct unwind_stack_record + the stack bytes */
	UNWIND_RECORD_DELTA = 2, /* struct unwind_delta_record (offcpu: a block ended) */
};

/* Flags of a stack record. */
#define UNWIND_COPY_CAPPED 1 /* the copy stopped at the size cap: the stack goes on above it */

/* One sample (cpuprofile) or one switch-out (offcpu), followed by `stack_len` bytes of user stack
 * starting at regs[7] (rsp). */
struct unwind_stack_record {
	__u32 kind;            /* UNWIND_RECORD_STACK */
	__u32 tgid;
	__u32 pid;             /* thread id */
	__s32 kernel_stack_id; /* in the tool's `stacks` map; below zero as in the tool's key */
	__u32 stack_len;       /* bytes of stack that follow */
	__u32 flags;           /* UNWIND_COPY_* */
	__u64 seq;             /* offcpu: the switch-out time, joining the block's delta record */
	char comm[UNWIND_COMM_LEN];
	__u64 regs[UNWIND_NREGS];
};

/* offcpu: the block that started with stack record (pid, seq) ended after delta_ns. */
struct unwind_delta_record {
	__u32 kind; /* UNWIND_RECORD_DELTA */
	__u32 pid;
	__u64 seq;
	__u64 delta_ns;
};

#endif
