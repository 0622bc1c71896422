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

/* Rules user space learned from the binaries' CFI while it unwound copies, for the kernel to walk
 * the same code by itself from then on (see src/unwind/DESIGN.md, "Learned rules"). A rule says
 * how to find the caller's frame from one code address; only the rules that need nothing but rsp,
 * rbp and reads at the CFA are learned, so the walk in the kernel is exact where it has a rule for
 * every frame, and goes back to a stack copy where it has not. */
#define UNWIND_KSTACK_MAX 127

enum unwind_rule_kind {
	UNWIND_RULE_CFA = 1,   /* CFA = (rbp or rsp) + cfa_off; return address at CFA - 8 */
	UNWIND_RULE_FP = 2,    /* code without CFI: CFA = rbp + 16, return address and rbp saved below it */
	UNWIND_RULE_END = 3,   /* the outermost frame (CFI leaves the return address undefined) */
	UNWIND_RULE_NOCFI = 4, /* a binary with CFI has none for this code: the stack stops here */
};

#define UNWIND_RULE_CFA_RBP 1   /* the CFA is computed from rbp (else from rsp) */
#define UNWIND_RULE_RBP_SAVED 2 /* the caller's rbp is saved at CFA + rbp_off (else unchanged) */

/* Key of `unwind_rules`: the process and the code address looked up, which is the sampled pc of
 * the first frame and a return address minus one for the others (the call instruction). */
struct unwind_rule_key {
	__u32 tgid;
	__u32 pad;
	__u64 pc;
};

struct unwind_rule {
	__u8 kind;  /* enum unwind_rule_kind */
	__u8 flags; /* UNWIND_RULE_* */
	__u16 pad;
	__s32 cfa_off;
	__s32 rbp_off;
	__u32 pad2;
};

/* Why a stack walked in the kernel ended (the value's `stop`). */
enum unwind_stop {
	UNWIND_STOP_END = 0,   /* the outermost frame */
	UNWIND_STOP_NOCFI = 1, /* code without CFI where the frame-pointer step does not hold */
	UNWIND_STOP_DEPTH = 2, /* UNWIND_KSTACK_MAX frames */
};

/* Value of `user_stacks` (keyed by a 64-bit hash of the whole value): a user stack the kernel
 * walked by learned rules, pcs leaf first. */
struct unwind_user_stack {
	__u32 len;
	__u32 stop; /* enum unwind_stop */
	__u64 pcs[UNWIND_KSTACK_MAX];
};

#endif
