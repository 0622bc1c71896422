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

/* Fills the per-CPU record with the current thread's user registers and stack. NULL when the
 * thread has no user context (a kernel thread) or its registers cannot be read. */
static __always_inline struct unwind_scratch *unwind_capture(__u32 tgid, __u32 tid)
{
	struct task_struct *task = bpf_get_current_task_btf();
	if (!task)
		return NULL;
	__u32 zero = 0;
	struct unwind_scratch *s = bpf_map_lookup_elem(&unwind_scratch, &zero);
	if (!s)
		return NULL;
	/* The user registers saved at the last entry into the kernel (the sampling interrupt, or the
	 * system call that is blocking): the top of the task's kernel stack, as perf takes them. */
	struct pt_regs regs;
	void *uregs = (void *)bpf_task_pt_regs(task);
	if (!uregs || bpf_probe_read_kernel(&regs, sizeof(regs), uregs))
		return NULL;
	/* Registers saved in user mode (CPL 3), or none: a kernel thread's are zeroed. Tested here
	 * rather than with task->flags so that cpuprofile has no CO-RE relocation, and libbpf need
	 * not parse the kernel's BTF (tens of ms of start-up) to load it. */
	if ((regs.cs & 3) != 3)
		return NULL;
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

/* Sends the record built by unwind_capture; 0 on success. User space polls the ring on a timer,
 * so no wakeup is asked for. */
static __always_inline long unwind_send(struct unwind_scratch *s)
{
	__u32 len = s->rec.stack_len;
	if (len > UNWIND_STACK_COPY_MAX)
		len = UNWIND_STACK_COPY_MAX;
	return bpf_ringbuf_output(&stack_copies, s, sizeof(s->rec) + len, BPF_RB_NO_WAKEUP);
}

#endif
