// SPDX-License-Identifier: GPL-2.0
/* cpuprofile: BCC `profile` semantics. A cpu-clock perf event on every CPU samples whatever runs
 * there; the sample is counted by (thread, user stack, kernel stack) in the kernel, so user space
 * reads one entry per distinct stack, not one record per sample. */
#include "common.bpf.h"
#include "cpuprofile.h"
#include "unwind.bpf.h"

/* Set by user space before load (bpf object globals, see src/bpf/object.ts). */
const volatile bool filter_tgid = false;        /* only tgids present in target_tgids */
const volatile bool filter_tid = false;         /* -L: only tids present in target_tids */
const volatile bool include_idle = false;       /* -I: count the idle task too */
const volatile bool collect_user = true;        /* false with -K */
const volatile bool collect_kernel = true;      /* false with -U */

#include "targets.bpf.h"

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384); /* --stack-storage-size */
	__type(key, __u32);
	__uint(value_size, CPUPROFILE_MAX_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 40960);
	__type(key, struct cpuprofile_key);
	__type(value, __u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CPUPROFILE_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* CLOCK_MONOTONIC time of the first sample that passed the filters (0: none yet): how long
 * launch-to-first-sample took is measured against it (--verbose, the benchmark). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} first_sample SEC(".maps");

static __always_inline __s32 take_stack(void *ctx, __u64 flags, __u32 lost_slot)
{
	long id = bpf_get_stackid(ctx, &stacks, flags);
	/* -EFAULT: there is no such stack (user stack of a kernel thread, kernel stack of a sample
	 * taken in user mode). Anything else below zero is a stack we lost. */
	if (id < 0 && id != -EFAULT)
		stat_add(&stats, lost_slot, 1);
	return (__s32)id;
}

/* One sample. With `copy` (--unwind dwarf|auto), the user stack is copied to user space with the
 * registers: the sample is then counted there, after unwinding, unless the copy could not be
 * sent; with `walk` too, it is first walked by the rules user space learned from CFI, and copied
 * only when a frame has none. */
static __always_inline int sample(struct bpf_perf_event_data *ctx, bool copy, bool walk)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	__u32 tid = (__u32)id;

	if (tid == 0 && !include_idle)
		return 0;
	if (filter_tid && !bpf_map_lookup_elem(&target_tids, &tid))
		return 0;
	if (filter_tgid && !bpf_map_lookup_elem(&target_tgids, &tgid))
		return 0;

	struct cpuprofile_key key = {};
	key.tgid = tgid;
	key.pid = tid;
	bpf_get_current_comm(&key.comm, sizeof(key.comm));
	key.kernel_stack_id = collect_kernel ? take_stack(ctx, 0, CPUPROFILE_STAT_KERNEL_LOST) : -1;

	stat_add(&stats, CPUPROFILE_STAT_SAMPLES, 1);
	__u32 zero = 0;
	__u64 *first = bpf_map_lookup_elem(&first_sample, &zero);
	if (first && !*first)
		*first = bpf_ktime_get_ns();

	if (!collect_user) {
		key.user_stack_id = -1;
	} else if (copy && copy_wanted(tgid)) {
		struct pt_regs regs;
		struct unwind_scratch *s = NULL;
		if (!unwind_user_regs(&regs)) {
			key.user_stack_id = -EFAULT; /* no user context: a kernel thread */
		} else if (unwind_by_rules(&regs, tgid, &key.user_stack_hash, walk)) {
			/* every frame had a learned rule: counted here, like a frame-pointer stack */
			key.user_stack_id = CPUPROFILE_STACK_UNWOUND;
			stat_add(&stats, CPUPROFILE_STAT_UNWOUND, 1);
		} else if (!(s = unwind_capture(&regs, tgid, tid))) {
			key.user_stack_id = CPUPROFILE_STACK_DROPPED;
			stat_add(&stats, CPUPROFILE_STAT_COPY_DROPPED, 1);
		} else {
			s->rec.kernel_stack_id = key.kernel_stack_id;
			__builtin_memcpy(s->rec.comm, key.comm, sizeof(key.comm));
			if (!unwind_send(s)) {
				stat_add(&stats, CPUPROFILE_STAT_COPIED, 1);
				return 0;
			}
			/* the ring is full: count the sample here, its user stack missing */
			stat_add(&stats, CPUPROFILE_STAT_COPY_DROPPED, 1);
			key.user_stack_id = CPUPROFILE_STACK_DROPPED;
		}
	} else {
		key.user_stack_id = take_stack(ctx, BPF_F_USER_STACK, CPUPROFILE_STAT_USER_LOST);
	}
	__u64 *count = bpf_map_lookup_elem(&counts, &key);
	if (count) {
		__sync_fetch_and_add(count, 1);
		return 0;
	}
	__u64 one = 1;
	if (bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST) == -EEXIST) {
		count = bpf_map_lookup_elem(&counts, &key);
		if (count)
			__sync_fetch_and_add(count, 1);
	} else if (!bpf_map_lookup_elem(&counts, &key)) {
		stat_add(&stats, CPUPROFILE_STAT_COUNTS_FULL, 1);
	}
	return 0;
}

/* The kernel walk by learned rules (cpuprofile_sample_walk), once user space has loaded it.
 * Verifying it takes the kernel ~15-25 ms (the walk's bpf_loop callback is explored state by
 * state), which would stand between launch and the first sample; it has nothing to walk before
 * the first copies taught user space some rules anyway. So the copy program attaches first and
 * hands each sample over to the walk program from the moment it sits here: loaded from a second
 * instance of this object that shares every map (src/bpf/object.ts addTailCall). */
struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} walker SEC(".maps");

/* --unwind fp: user stacks walked by frame pointers in the kernel. */
SEC("perf_event")
int cpuprofile_sample(struct bpf_perf_event_data *ctx)
{
	return sample(ctx, false, false);
}

/* --unwind dwarf|auto: user stacks copied for unwinding in user space (auto: unless the process
 * keeps frame pointers); walked in the kernel by learned rules once the walk program is in
 * `walker` (a tail call does not return; without one, this goes on). */
SEC("perf_event")
int cpuprofile_sample_copy(struct bpf_perf_event_data *ctx)
{
	bpf_tail_call(ctx, &walker, 0);
	return sample(ctx, true, false);
}

/* The copy program with the kernel walk (bpf_loop, 5.17+): loaded after attach, into `walker`. */
SEC("perf_event")
int cpuprofile_sample_walk(struct bpf_perf_event_data *ctx)
{
	return sample(ctx, true, true);
}

char LICENSE[] SEC("license") = "GPL";
