/* Stack copies for --unwind dwarf|auto, shared by cpuprofile and offcpu: instead of walking the
 * user stack by frame pointers (which most distro binaries, libc above all, do not keep), take the
 * thread's user registers and the top of its user stack and send them to user space through a
 * ring buffer; src/unwind/ unwinds them with .eh_frame CFI and aggregates identical stacks right
 * away. Include after common.bpf.h; the record layout is in unwind.h. */
#ifndef EBPF_OTEL_UNWIND_BPF_H
#define EBPF_OTEL_UNWIND_BPF_H

#include "unwind.h"

/* Bytes of stack to copy (at most UNWIND_STACK_COPY_MAX); set by user space. */
const volatile __u32 stack_copy_bytes = UNWIND_STACK_COPY_MAX;
/* --unwind auto: processes listed in fp_tgids are walked by frame pointers, the others copied. */
const volatile bool unwind_auto = false;
/* Walk stacks in the kernel by the rules user space learned (needs bpf_loop, 5.17+); user space
 * loads with false where that fails, and every stack is then copied. */
const volatile bool walk_learned_rules = false;

/* Records for user space. Its size is set by user space before load (a power of two). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} stack_copies SEC(".maps");

/* Where a record is built before it is sent: per CPU, so no record is ever shared. Two pages more
 * than the copy cap, so every read stays inside it whatever the verifier can prove of its size. */
struct unwind_scratch {
	struct unwind_stack_record rec;
	__u8 stack[UNWIND_STACK_COPY_MAX + 2 * 4096];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct unwind_scratch);
} unwind_scratch SEC(".maps");

/* --unwind auto: processes whose code all keeps frame pointers (user space decides and fills it). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u8);
} fp_tgids SEC(".maps");

/* True when this process's user stacks are to be copied rather than walked by frame pointers. */
static __always_inline bool copy_wanted(__u32 tgid)
{
	return !unwind_auto || !bpf_map_lookup_elem(&fp_tgids, &tgid);
}

#define UNWIND_PAGE 4096

/* v = min(v, max), in assembly on the very register used next: a C bound lets clang test a copy
 * of the value, and the verifier then sees the one used as unbounded. */
#define UNWIND_CLAMP(v, max) asm volatile("if %0 <= %[m] goto +1\n\t%0 = %[m]" : "+r"(v) : [m] "i"(max))

/* Copies the user stack from `sp` up, page by page, until `cap` bytes or the first page that
 * cannot be read (the end of the stack mapping); returns the bytes copied. */
static __always_inline __u32 unwind_copy_stack(struct unwind_scratch *s, __u64 sp, __u32 cap)
{
	__u32 off = 0;
#pragma unroll
	for (int i = 0; i < UNWIND_STACK_COPY_MAX / UNWIND_PAGE + 1; i++) {
		if (off >= cap || off >= UNWIND_STACK_COPY_MAX)
			break;
		__u64 addr = sp + off;
		__u32 n = UNWIND_PAGE - (__u32)(addr & (UNWIND_PAGE - 1));
		if (n > cap - off)
			n = cap - off;
		if (n == 0)
			break;
		/* The verifier must see the size bounded on the very register passed: clang knows
		 * n <= UNWIND_PAGE and would drop a plain check, so hide n and mask it (a no-op). */
		__u64 size = n;
		asm volatile("" : "+r"(size));
		size &= 2 * UNWIND_PAGE - 1;
		if (bpf_probe_read_user(&s->stack[off], size, (void *)addr))
			break;
		off += n;
	}
	return off;
}

/* The current thread's user registers, saved at its last entry into the kernel (the sampling
 * interrupt, or the system call that is blocking): the top of its kernel stack, as perf takes
 * them. False when it has no user context (a kernel thread) or they cannot be read. */
static __always_inline bool unwind_user_regs(struct pt_regs *regs)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (!task)
		return false;
	void *uregs = (void *)bpf_task_pt_regs(task);
	if (!uregs || bpf_probe_read_kernel(regs, sizeof(*regs), uregs))
		return false;
	/* Registers saved in user mode (CPL 3), or none: a kernel thread's are zeroed. Tested here
	 * rather than with task->flags so that cpuprofile has no CO-RE relocation, and libbpf need
	 * not parse the kernel's BTF (tens of ms of start-up) to load it. */
	return (regs->cs & 3) == 3;
}

/* Fills the per-CPU record with the thread's user registers (from unwind_user_regs) and stack.
 * NULL when there is no scratch space. */
static __always_inline struct unwind_scratch *unwind_capture(const struct pt_regs *uregs, __u32 tgid, __u32 tid)
{
	__u32 zero = 0;
	struct unwind_scratch *s = bpf_map_lookup_elem(&unwind_scratch, &zero);
	if (!s)
		return NULL;
	struct pt_regs regs = *uregs;
	s->rec.kind = UNWIND_RECORD_STACK;
	s->rec.tgid = tgid;
	s->rec.pid = tid;
	s->rec.flags = 0;
	s->rec.seq = 0;
	s->rec.regs[0] = regs.rax;
	s->rec.regs[1] = regs.rdx;
	s->rec.regs[2] = regs.rcx;
	s->rec.regs[3] = regs.rbx;
	s->rec.regs[4] = regs.rsi;
	s->rec.regs[5] = regs.rdi;
	s->rec.regs[6] = regs.rbp;
	s->rec.regs[7] = regs.rsp;
	s->rec.regs[8] = regs.r8;
	s->rec.regs[9] = regs.r9;
	s->rec.regs[10] = regs.r10;
	s->rec.regs[11] = regs.r11;
	s->rec.regs[12] = regs.r12;
	s->rec.regs[13] = regs.r13;
	s->rec.regs[14] = regs.r14;
	s->rec.regs[15] = regs.r15;
	s->rec.regs[16] = regs.rip;
	__u32 cap = stack_copy_bytes;
	if (cap > UNWIND_STACK_COPY_MAX)
		cap = UNWIND_STACK_COPY_MAX;
	__u32 len = unwind_copy_stack(s, regs.rsp, cap);
	s->rec.stack_len = len;
	if (len >= cap)
		s->rec.flags |= UNWIND_COPY_CAPPED;
	return s;
}

/* Learned rules (unwind.h), filled by user space as it unwinds copies. Not preallocated: a run
 * learns tens to thousands of rules, and preallocating the cap cost ~0.1 s of system time at
 * load. When it is full, stacks that need a new rule keep being copied. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct unwind_rule_key);
	__type(value, struct unwind_rule);
} unwind_rules SEC(".maps");

/* User stacks walked by learned rules, by hash; sized like the tool's stack map by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u64);
	__type(value, struct unwind_user_stack);
} user_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct unwind_user_stack);
} unwind_walk_scratch SEC(".maps");

#define UNWIND_HASH_PRIME 0x100000001b3ULL

/* The state of one walk by learned rules, carried from step to step by bpf_loop. */
struct unwind_walk {
	__u64 pc, sp, bp, hash;
	__u32 tgid, n, stop;
	__u32 miss; /* a frame the rules do not cover: the stack must be copied */
};

/* One frame of the walk (bpf_loop callback): 0 goes on to the next frame, 1 ends the walk. A
 * callback is verified once, not once per frame as an open-coded loop of 127 frames would be
 * (that took the verifier ~50 ms of every start). */
static long unwind_step(__u32 i, void *ctx)
{
	struct unwind_walk *st = ctx;
	__u32 zero = 0;
	struct unwind_user_stack *w = bpf_map_lookup_elem(&unwind_walk_scratch, &zero);
	if (!w) {
		st->miss = 1;
		return 1;
	}
	__u64 pc = st->pc, sp = st->sp, bp = st->bp;
	if (pc == 0) {
		st->miss = i == 0; /* else the frame-pointer chain ended: the outermost frame */
		return 1;
	}
	if (i >= UNWIND_KSTACK_MAX) {
		st->stop = UNWIND_STOP_DEPTH;
		return 1;
	}
	struct unwind_rule_key k = { .tgid = st->tgid, .pc = i == 0 ? pc : pc - 1 };
	struct unwind_rule *r = bpf_map_lookup_elem(&unwind_rules, &k);
	if (!r) {
		st->miss = 1;
		return 1;
	}
	__u64 at = i;
	UNWIND_CLAMP(at, UNWIND_KSTACK_MAX - 1);
	w->pcs[at] = pc;
	st->n = i + 1;
	st->hash = (st->hash ^ pc) * UNWIND_HASH_PRIME;
	__u8 kind = r->kind;
	if (kind == UNWIND_RULE_END)
		return 1;
	if (kind == UNWIND_RULE_NOCFI) {
		st->stop = UNWIND_STOP_NOCFI;
		return 1;
	}
	__u64 cfa, ra, saved_bp;
	if (kind == UNWIND_RULE_FP) {
		/* as user space does it: rbp must be a frame above the stack pointer, or the stack
		 * ends here without CFI */
		if (bp < sp || (bp & 7) || bpf_probe_read_user(&saved_bp, 8, (void *)bp) ||
		    bpf_probe_read_user(&ra, 8, (void *)(bp + 8))) {
			st->stop = UNWIND_STOP_NOCFI;
			return 1;
		}
		st->sp = bp + 16;
		st->bp = saved_bp;
		st->pc = ra;
		return 0;
	}
	if (kind != UNWIND_RULE_CFA) {
		st->miss = 1;
		return 1;
	}
	cfa = ((r->flags & UNWIND_RULE_CFA_RBP) ? bp : sp) + (__s64)r->cfa_off;
	if (cfa <= sp || bpf_probe_read_user(&ra, 8, (void *)(cfa - 8))) {
		st->miss = 1;
		return 1;
	}
	if ((r->flags & UNWIND_RULE_RBP_SAVED) && bpf_probe_read_user(&bp, 8, (void *)(cfa + (__s64)r->rbp_off))) {
		st->miss = 1;
		return 1;
	}
	st->sp = cfa;
	st->bp = bp;
	st->pc = ra;
	return 0;
}

/* Walks the user stack from `regs` by learned rules alone. True when every frame had a rule: the
 * stack is then in `user_stacks` under *hash. False sends the caller to the stack copy, which user
 * space unwinds in full (and learns from): a frame without a rule, a read that fails, a CFA that
 * does not grow, a full map, or a kernel without bpf_loop (5.17), where `walk` is false (a
 * constant: `walk_learned_rules`, or the program's own) and the verifier never sees this code. */
static __always_inline bool unwind_by_rules(const struct pt_regs *regs, __u32 tgid, __u64 *hash, bool walk)
{
	if (!walk)
		return false;
	struct unwind_walk st = {
		.pc = regs->rip, .sp = regs->rsp, .bp = regs->rbp, .hash = 0xcbf29ce484222325ULL,
		.tgid = tgid, .stop = UNWIND_STOP_END,
	};
	bpf_loop(UNWIND_KSTACK_MAX + 1, unwind_step, &st, 0);
	if (st.miss)
		return false;
	__u32 zero = 0;
	struct unwind_user_stack *w = bpf_map_lookup_elem(&unwind_walk_scratch, &zero);
	if (!w)
		return false;
	w->len = st.n;
	w->stop = st.stop;
	__u64 h = (st.hash ^ st.n ^ ((__u64)st.stop << 32)) * UNWIND_HASH_PRIME;
	*hash = h;
	if (bpf_map_lookup_elem(&user_stacks, &h))
		return true;
	long err = bpf_map_update_elem(&user_stacks, &h, w, BPF_NOEXIST);
	return err == 0 || err == -EEXIST;
}

/* Sends the record built by unwind_capture; 0 on success. User space polls the ring on a timer,
 * so no wakeup is asked for. */
static __always_inline long unwind_send(struct unwind_scratch *s)
{
	__u64 len = s->rec.stack_len;
	UNWIND_CLAMP(len, UNWIND_STACK_COPY_MAX);
	return bpf_ringbuf_output(&stack_copies, s, sizeof(s->rec) + len, BPF_RB_NO_WAKEUP);
}

#endif
