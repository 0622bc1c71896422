// SPDX-License-Identifier: GPL-2.0
/* offcpu: BCC `offcputime` semantics. At every context switch (sched_switch), the thread leaving
 * the CPU (prev) gets its switch-out time and its user and kernel stacks recorded; the thread
 * coming in (next) has the time since its own switch-out added to the stacks recorded for it. The
 * sums are kept in the kernel by (thread, user stack, kernel stack), so user space reads one entry
 * per distinct blocking stack, not one record per block. */
#include "common.bpf.h"
#include "offcpu.h"
#include "unwind.bpf.h"

/* Set by user space before load (bpf object globals, see src/bpf/object.ts). */
const volatile bool filter_tgid = false;        /* -p: only tgids present in target_tgids */
const volatile bool filter_tid = false;         /* -t: only tids present in target_tids */
const volatile bool user_threads_only = false;  /* -u */
const volatile bool kernel_threads_only = false;/* -k */
const volatile bool collect_user = true;        /* false with -K */
const volatile bool collect_kernel = true;      /* false with -U */
const volatile bool filter_state = false;       /* --state given */
const volatile long state_filter = 0;           /* --state: 0 = equal to 0, else a bitmask */
const volatile __u64 min_block_ns = 1000;       /* -m, in ns (inclusive) */
const volatile __u64 max_block_ns = ~0ULL;      /* -M, in ns (inclusive) */

/* Kernel stacks must start at __schedule, the caller of the sched_switch tracepoint: the frames
 * below it (this program, bpf_trace_runN, and on some kernels __bpf_trace_run and
 * __bpf_trace_sched_switch) are skipped with BPF_F_SKIP_FIELD_MASK. How many there are depends on
 * the kernel's build, so the first switch finds out: it walks a few frames and counts those before
 * the first one in the scheduler's text (.sched.text, where __schedule lives) or in
 * __traceiter_sched_switch. The iterator is on the stack only while other programs or tracers
 * share the tracepoint (with one probe the kernel's static call jumps straight to it), so it is not
 * counted in the skip; user space drops it from the stacks that have it. Addresses come from
 * /proc/kallsyms; zero when unknown, and then `kernel_skip` is used. */
const volatile __u64 sched_text_start = 0;
const volatile __u64 sched_text_end = 0;
const volatile __u64 traceiter_start = 0;
const volatile __u64 traceiter_end = 0;
const volatile __u32 kernel_skip = 0;
/* --unwind dwarf|auto: copy user stacks at switch-out for user space to unwind (see unwind.bpf.h). */
const volatile bool copy_user_stacks = false;

/* The skip found by the first switch, plus one (0: not yet). User space reads it for --verbose. */
__u32 kernel_skip_found SEC(".data.offcpu_skip") = 0;

#define CALIBRATE_DEPTH 16

static __always_inline bool tracing_caller(__u64 ip)
{
	return (ip >= sched_text_start && ip < sched_text_end) ||
	       (ip >= traceiter_start && ip < traceiter_end);
}

static __always_inline __u32 kernel_frames_to_skip(void *ctx)
{
	__u32 found = kernel_skip_found;
	if (found)
		return found - 1;
	if (!sched_text_start)
		return kernel_skip;

	__u64 ips[CALIBRATE_DEPTH];
	long n = bpf_get_stack(ctx, ips, sizeof(ips), 0);
	if (n <= 0)
		return kernel_skip; /* try again at the next switch */
	__u32 skip = kernel_skip;
#pragma unroll
	for (int i = 0; i < CALIBRATE_DEPTH; i++) {
		if (i * (long)sizeof(__u64) >= n)
			break;
		if (tracing_caller(ips[i])) {
			skip = i;
			break;
		}
	}
	kernel_skip_found = skip + 1;
	return skip;
}

#include "targets.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384); /* --stack-storage-size */
	__type(key, __u32);
	__uint(value_size, OFFCPU_MAX_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

/* Threads now off-CPU: switch-out time and stacks, by thread id. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 32768); /* --max-threads */
	__type(key, __u32);
	__type(value, struct offcpu_start);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 40960); /* --max-entries */
	__type(key, struct offcpu_key);
	__type(value, struct offcpu_value);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, OFFCPU_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline __s32 take_stack(void *ctx, __u64 flags, __u32 lost_slot)
{
	long id = bpf_get_stackid(ctx, &stacks, flags);
	/* -EFAULT: there is no such stack. Anything else below zero is a stack we lost. */
	if (id < 0 && id != -EFAULT)
		stat_add(&stats, lost_slot, 1);
	return (__s32)id;
}

/* task_struct->__state of a task that is exiting: it is switched out for the last time. */
#define TASK_DEAD 0x0080

/* Counts a block of `delta` ns that ended for thread `tid`, under the key its switch-out recorded
 * in `s` (a `start` map value; the caller deletes it). */
static __always_inline void account_block(struct offcpu_start *s, __u32 tid, __u64 delta)
{
	if (delta < min_block_ns || delta > max_block_ns) {
		stat_add(&stats, OFFCPU_STAT_OUT_OF_RANGE, 1);
		return;
	}

	stat_add(&stats, OFFCPU_STAT_BLOCKS, 1);
	if (s->copied) {
		struct unwind_delta_record d = { .kind = UNWIND_RECORD_DELTA, .pid = tid, .seq = s->start_ns, .delta_ns = delta };
		if (!bpf_ringbuf_output(&stack_copies, &d, sizeof(d), BPF_RB_NO_WAKEUP))
			return;
		/* lost: count the time here, without its user stack */
		stat_add(&stats, OFFCPU_STAT_COPY_DROPPED, 1);
		s->key.user_stack_id = OFFCPU_STACK_DROPPED;
	}
	struct offcpu_value *v = bpf_map_lookup_elem(&counts, &s->key);
	if (v) {
		__sync_fetch_and_add(&v->total_ns, delta);
		__sync_fetch_and_add(&v->count, 1);
		return;
	}
	struct offcpu_value first = { .total_ns = delta, .count = 1 };
	long err = bpf_map_update_elem(&counts, &s->key, &first, BPF_NOEXIST);
	if (err == -EEXIST) {
		/* another CPU inserted the same key meanwhile */
		v = bpf_map_lookup_elem(&counts, &s->key);
		if (v) {
			__sync_fetch_and_add(&v->total_ns, delta);
			__sync_fetch_and_add(&v->count, 1);
		}
	} else if (err) {
		stat_add(&stats, OFFCPU_STAT_COUNTS_FULL, 1);
	}
}

/* A thread switched out while its previous switch-out is still in `start`: it ran again without
 * the program seeing it switched in. That happens: on some kernels (seen on a 6.18 VM, under CPU
 * load, a few times in a thousand switch-ins, with ftrace's sched_switch event missing it just the same)
 * a task is switched in without the sched_switch tracepoint reaching its probes. Overwriting the
 * entry would drop that block without a trace, so it is counted here, under its own key: its end
 * is unknown, but the time between the two switch-outs is the block plus the CPU time the thread
 * had meanwhile, which the scheduler keeps (sum_exec_runtime). A thread that died without its
 * last switch-out seen leaves its entry to a later thread with the same id, which has another
 * creation time: that entry is dropped. The caller replaces the entry. */
static __always_inline void close_unseen_block(__u32 tid, __u64 now, __u64 oncpu_ns, __u64 task_start_ns)
{
	struct offcpu_start *s = bpf_map_lookup_elem(&start, &tid);
	if (!s)
		return;
	if (s->task_start_ns != task_start_ns) {
		bpf_map_delete_elem(&start, &tid);
		return;
	}
	__u64 between = now > s->start_ns ? now - s->start_ns : 0;
	__u64 ran = oncpu_ns > s->oncpu_ns ? oncpu_ns - s->oncpu_ns : 0;
	stat_add(&stats, OFFCPU_STAT_SWITCH_IN_UNSEEN, 1);
	account_block(s, tid, between > ran ? between - ran : 0);
	bpf_map_delete_elem(&start, &tid);
}

/* Records the switch-out of `prev`, the current task at sched_switch (so bpf_get_stackid and
 * bpf_get_current_* describe it). A preempted task is still runnable whatever its __state says
 * (it may have been preempted between setting its state and calling schedule()), so its state is
 * 0, as the kernel itself reports it. */
static __always_inline void switch_out(void *ctx, bool preempt, struct task_struct *prev)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u32 tid = (__u32)id;

	if (tid == 0) /* the idle task: its "off-CPU" time is the time the CPU was busy */
		return;
	if (filter_tid && !bpf_map_lookup_elem(&target_tids, &tid))
		return;
	if (filter_tgid && !bpf_map_lookup_elem(&target_tgids, &tgid))
		return;
	/* Before any other filter: a block whose switch-in was not seen is counted whatever this
	 * switch-out turns out to be, the thread's last (TASK_DEAD) included. */
	__u64 oncpu_ns = BPF_CORE_READ(prev, se.sum_exec_runtime);
	__u64 task_start_ns = BPF_CORE_READ(prev, start_time);
	close_unseen_block(tid, bpf_ktime_get_ns(), oncpu_ns, task_start_ns);
	long state = preempt ? 0 : task_state(prev);
	if (state & TASK_DEAD) /* never switched in again: its entry would only fill the map */
		return;
	/* BCC offcputime --state: 0 matches a runnable task exactly, other values as a bitmask */
	if (filter_state && (state_filter == 0 ? state != 0 : !(state & state_filter)))
		return;
	bool kthread = BPF_CORE_READ(prev, flags) & PF_KTHREAD;
	if ((user_threads_only && kthread) || (kernel_threads_only && !kthread))
		return;

	struct offcpu_start s = { .oncpu_ns = oncpu_ns, .task_start_ns = task_start_ns };
	s.key.tgid = tgid;
	s.key.pid = tid;
	bpf_get_current_comm(&s.key.comm, sizeof(s.key.comm));
	s.key.kernel_stack_id = collect_kernel
		? take_stack(ctx, kernel_frames_to_skip(ctx) & BPF_F_SKIP_FIELD_MASK, OFFCPU_STAT_KERNEL_LOST)
		: -1;
	s.start_ns = bpf_ktime_get_ns();
	if (!collect_user) {
		s.key.user_stack_id = -1;
	} else if (kthread) {
		s.key.user_stack_id = -EFAULT; /* a kernel thread has no user stack */
	} else if (copy_user_stacks && copy_wanted(tgid)) {
		/* Walked here by learned rules where every frame has one; otherwise the stack goes
		 * to user space now, under the switch-out time, and the block's length follows at
		 * switch-in as a delta record with the same (thread, time). */
		struct pt_regs regs;
		struct unwind_scratch *c = NULL;
		if (!unwind_user_regs(&regs)) {
			s.key.user_stack_id = -EFAULT;
		} else if (unwind_by_rules(&regs, tgid, &s.key.user_stack_hash, walk_learned_rules)) {
			/* every frame had a learned rule: counted in the kernel at switch-in */
			s.key.user_stack_id = OFFCPU_STACK_UNWOUND;
			stat_add(&stats, OFFCPU_STAT_UNWOUND, 1);
		} else if (!(c = unwind_capture(&regs, tgid, tid))) {
			stat_add(&stats, OFFCPU_STAT_COPY_DROPPED, 1);
			s.key.user_stack_id = OFFCPU_STACK_DROPPED;
		} else {
			c->rec.kernel_stack_id = s.key.kernel_stack_id;
			c->rec.seq = s.start_ns;
			__builtin_memcpy(c->rec.comm, s.key.comm, sizeof(s.key.comm));
			if (!unwind_send(c)) {
				s.copied = 1;
				s.key.user_stack_id = OFFCPU_STACK_COPIED;
			} else {
				stat_add(&stats, OFFCPU_STAT_COPY_DROPPED, 1);
				s.key.user_stack_id = OFFCPU_STACK_DROPPED;
			}
		}
	} else {
		s.key.user_stack_id = take_stack(ctx, BPF_F_USER_STACK, OFFCPU_STAT_USER_LOST);
	}
	if (bpf_map_update_elem(&start, &tid, &s, BPF_ANY))
		stat_add(&stats, OFFCPU_STAT_START_FULL, 1);
}

/* Accounts the block that just ended for `next`, if its switch-out was recorded. */
static __always_inline void switch_in(struct task_struct *next)
{
	__u32 tid = BPF_CORE_READ(next, pid);
	if (tid == 0)
		return;
	struct offcpu_start *s = bpf_map_lookup_elem(&start, &tid);
	if (!s)
		return;
	__u64 now = bpf_ktime_get_ns();
	account_block(s, tid, now > s->start_ns ? now - s->start_ns : 0);
	bpf_map_delete_elem(&start, &tid);
}

static __always_inline int on_switch(void *ctx, bool preempt, struct task_struct *prev,
				     struct task_struct *next)
{
	switch_out(ctx, preempt, prev);
	switch_in(next);
	return 0;
}

/* Best: BTF-typed tracepoint (5.5+). The arguments are the tracepoint's TP_PROTO. */
SEC("tp_btf/sched_switch")
int BPF_PROG(offcpu_switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(ctx, preempt, prev, next);
}

/* Fallback: raw tracepoint (4.17+), same arguments as untyped u64s. */
SEC("raw_tp/sched_switch")
int BPF_PROG(offcpu_switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch(ctx, preempt, prev, next);
}

char LICENSE[] SEC("license") = "GPL";
