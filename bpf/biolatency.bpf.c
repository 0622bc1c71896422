// SPDX-License-Identifier: GPL-2.0
/* biolatency: BCC `biolatency` semantics. Block I/O latency from issue (or, with -Q, from insert
 * into the OS queue) to completion, as log2 histograms aggregated in the kernel, optionally one
 * per disk (-D) and/or per request flag set (-F).
 *
 * Hooks, best first (user space picks the first that loads and attaches, see
 * src/commands/biolatency.ts): tp_btf and raw_tp on block_rq_{insert,issue,complete}, keyed by
 * the request pointer; then the classic tracepoints, whose records carry no request pointer, so
 * that path keys requests by (dev, sector) as libbpf-tools does there. Kernels before 5.11 passed
 * (request_queue, request) to the insert/issue tracepoints: the `_q` programs read the second
 * argument. Nothing in a program tells the two layouts apart (the verifier accepts the one-argument
 * programs on an old kernel and would key requests by the queue), so before attaching either
 * layout user space counts the tracepoint's arguments with the biolatency_nargs_* programs below. */
#include "common.bpf.h"
#include "biolatency.h"

/* Set by user space before load. */
const volatile bool per_disk = false;  /* -D: key by disk */
const volatile bool per_flags = false; /* -F: key by flag set */
const volatile bool queued = false;    /* -Q: from block_rq_insert when there is one */
const volatile bool milliseconds = false;
const volatile bool filter_dev = false; /* --disk */
const volatile __u32 target_dev = 0;

/* A request in flight: the request pointer (dev 0), or on the classic tracepoint path its
 * (dev, sector). */
struct start_key {
	__u64 id;
	__u32 dev;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct start_key);
	__type(value, __u64);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct biolatency_key);
	__type(value, struct biolatency_hist);
} hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, BIOLATENCY_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* The kernel's op and flag enums, declared by name only: CO-RE puts in the running kernel's
 * values. `enum req_op` is 6.0+; older kernels call it `enum req_opf` (the ___old flavor). */
enum req_op {
	REQ_OP_READ, REQ_OP_WRITE, REQ_OP_FLUSH, REQ_OP_DISCARD, REQ_OP_SECURE_ERASE,
	REQ_OP_WRITE_ZEROES, REQ_OP_WRITE_SAME, REQ_OP_ZONE_APPEND, REQ_OP_ZONE_OPEN,
	REQ_OP_ZONE_CLOSE, REQ_OP_ZONE_FINISH, REQ_OP_ZONE_RESET, REQ_OP_ZONE_RESET_ALL,
	REQ_OP_DRV_IN, REQ_OP_DRV_OUT,
};

enum req_opf___old {
	REQ_OP_READ___old, REQ_OP_WRITE___old, REQ_OP_FLUSH___old, REQ_OP_DISCARD___old,
	REQ_OP_SECURE_ERASE___old, REQ_OP_WRITE_ZEROES___old, REQ_OP_WRITE_SAME___old,
	REQ_OP_ZONE_APPEND___old, REQ_OP_ZONE_OPEN___old, REQ_OP_ZONE_CLOSE___old,
	REQ_OP_ZONE_FINISH___old, REQ_OP_ZONE_RESET___old, REQ_OP_ZONE_RESET_ALL___old,
	REQ_OP_DRV_IN___old, REQ_OP_DRV_OUT___old,
};

enum req_flag_bits {
	__REQ_FAILFAST_DEV, /* the first flag bit: its value is REQ_OP_BITS */
	__REQ_SYNC, __REQ_META, __REQ_PRIO, __REQ_NOMERGE, __REQ_IDLE, __REQ_INTEGRITY, __REQ_FUA,
	__REQ_PREFLUSH, __REQ_RAHEAD, __REQ_BACKGROUND, __REQ_NOWAIT, __REQ_POLLED, __REQ_ATOMIC,
};

#define MAP_OP(name)                                                                           \
	if (bpf_core_enum_value_exists(enum req_op, REQ_OP_##name)) {                          \
		if (op == bpf_core_enum_value(enum req_op, REQ_OP_##name))                     \
			return BIOLATENCY_OP_##name;                                           \
	} else if (bpf_core_enum_value_exists(enum req_opf___old, REQ_OP_##name##___old)) {   \
		if (op == bpf_core_enum_value(enum req_opf___old, REQ_OP_##name##___old))      \
			return BIOLATENCY_OP_##name;                                           \
	}

static __always_inline __u32 map_op(__u32 op)
{
	MAP_OP(READ)
	MAP_OP(WRITE)
	MAP_OP(FLUSH)
	MAP_OP(DISCARD)
	MAP_OP(SECURE_ERASE)
	MAP_OP(WRITE_ZEROES)
	MAP_OP(WRITE_SAME)
	MAP_OP(ZONE_APPEND)
	MAP_OP(ZONE_OPEN)
	MAP_OP(ZONE_CLOSE)
	MAP_OP(ZONE_FINISH)
	MAP_OP(ZONE_RESET)
	MAP_OP(ZONE_RESET_ALL)
	MAP_OP(DRV_IN)
	MAP_OP(DRV_OUT)
	return BIOLATENCY_OP_UNKNOWN;
}

#define MAP_FLAG(name)                                                                         \
	if (bpf_core_enum_value_exists(enum req_flag_bits, __REQ_##name) &&                    \
	    (cmd_flags >> bpf_core_enum_value(enum req_flag_bits, __REQ_##name)) & 1)          \
		out |= BIOLATENCY_F_##name;

/* cmd_flags of the running kernel -> the stable encoding of biolatency.h. */
static __always_inline __u32 map_cmd_flags(__u32 cmd_flags)
{
	__u32 op_bits = 8;
	if (bpf_core_enum_value_exists(enum req_flag_bits, __REQ_FAILFAST_DEV))
		op_bits = bpf_core_enum_value(enum req_flag_bits, __REQ_FAILFAST_DEV);
	__u32 out = map_op(cmd_flags & ((1u << (op_bits & 31)) - 1));
	MAP_FLAG(SYNC)
	MAP_FLAG(META)
	MAP_FLAG(PRIO)
	MAP_FLAG(NOMERGE)
	MAP_FLAG(IDLE)
	MAP_FLAG(INTEGRITY)
	MAP_FLAG(FUA)
	MAP_FLAG(PREFLUSH)
	MAP_FLAG(RAHEAD)
	MAP_FLAG(BACKGROUND)
	MAP_FLAG(NOWAIT)
	MAP_FLAG(POLLED)
	MAP_FLAG(ATOMIC)
	return out;
}

/* The same from a tracepoint's rwbs text (blk_fill_rwbs): [F]{W,R,D,DE,F,N}[F][A][S][M]... */
static __always_inline __u32 rwbs_flags(const char *rwbs_src)
{
	char r[10] = {};
	bpf_probe_read_kernel(r, sizeof(r), rwbs_src);
	__u32 out = 0;
	int i = 0;
	/* A leading F is PREFLUSH when an operation letter follows it, else the FLUSH op. */
	if (r[0] == 'F' && (r[1] == 'W' || r[1] == 'R' || r[1] == 'D' || r[1] == 'N' || r[1] == 'F')) {
		out |= BIOLATENCY_F_PREFLUSH;
		i = 1;
	}
	char c = i ? r[1] : r[0];
	char next = i ? r[2] : r[1];
	int rest = i + 1;
	switch (c) {
	case 'W': out |= BIOLATENCY_OP_WRITE; break;
	case 'R': out |= BIOLATENCY_OP_READ; break;
	case 'F': out |= BIOLATENCY_OP_FLUSH; break;
	case 'D':
		if (next == 'E') {
			out |= BIOLATENCY_OP_SECURE_ERASE;
			rest++;
		} else {
			out |= BIOLATENCY_OP_DISCARD;
		}
		break;
	default: out |= BIOLATENCY_OP_UNKNOWN; break;
	}
#pragma unroll
	for (int k = 1; k < 9; k++) {
		if (k < rest)
			continue;
		switch (r[k]) {
		case 'F': out |= BIOLATENCY_F_FUA; break;
		case 'A': out |= BIOLATENCY_F_RAHEAD; break;
		case 'S': out |= BIOLATENCY_F_SYNC; break;
		case 'M': out |= BIOLATENCY_F_META; break;
		case 'U': out |= BIOLATENCY_F_ATOMIC; break;
		default: break;
		}
	}
	return out;
}

/* One local view of the kernel's struct request for both places of the disk (rq->rq_disk before
 * 5.17, rq->q->disk since): libbpf searches the kernel's whole BTF once per local type it relocates
 * (~2 ms of start-up CPU each), and a second flavor of the same struct would be a second search.
 * A member the running kernel lacks fails only its own relocation, in code the verifier drops. */
struct request___bio {
	struct request_queue *q;
	unsigned int cmd_flags;
	struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

static __always_inline __u32 rq_dev(struct request *req)
{
	struct request___bio *rq = (void *)req;
	struct gendisk *disk;
	if (bpf_core_field_exists(rq->rq_disk))
		disk = BPF_CORE_READ(rq, rq_disk);
	else
		disk = BPF_CORE_READ(rq, q, disk);
	if (!disk)
		return 0;
	__u32 major = BPF_CORE_READ(disk, major);
	__u32 minor = BPF_CORE_READ(disk, first_minor);
	return (major << 20) | (minor & 0xfffff);
}

static __always_inline int record_start(struct start_key *key, __u32 dev, bool issue)
{
	if (filter_dev && dev != target_dev)
		return 0;
	__u64 ts = bpf_ktime_get_ns();
	/* With -Q the insert time wins; an issue without an insert before it (no I/O scheduler,
	 * or inserted before tracing began) starts the clock itself. */
	long err = bpf_map_update_elem(&start, key, &ts, issue && queued ? BPF_NOEXIST : BPF_ANY);
	if (err && err != -EEXIST)
		stat_add(&stats, BIOLATENCY_STAT_START_FULL, 1);
	return 0;
}

static __always_inline int record_done(struct start_key *skey, __u32 dev, __u32 flags)
{
	__u64 *tsp = bpf_map_lookup_elem(&start, skey);
	if (!tsp)
		return 0; /* issued before tracing began, or filtered out */
	__u64 now = bpf_ktime_get_ns();
	__u64 delta = now > *tsp ? now - *tsp : 0;
	bpf_map_delete_elem(&start, skey);

	struct biolatency_key key = {};
	if (per_disk)
		key.dev = dev;
	if (per_flags)
		key.flags = flags;
	struct biolatency_hist *h = bpf_map_lookup_elem(&hists, &key);
	if (!h) {
		static const struct biolatency_hist zero = {};
		bpf_map_update_elem(&hists, &key, &zero, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&hists, &key);
		if (!h) {
			stat_add(&stats, BIOLATENCY_STAT_HISTS_FULL, 1);
			return 0;
		}
	}
	__u64 v = delta / (milliseconds ? 1000000 : 1000);
	__u32 slot = log2_slot(v, BIOLATENCY_MAX_SLOTS);
	if (slot < BIOLATENCY_MAX_SLOTS)
		__sync_fetch_and_add(&h->slots[slot], 1);
	__sync_fetch_and_add(&h->count, 1);
	__sync_fetch_and_add(&h->sum_ns, delta);
	stat_add(&stats, BIOLATENCY_STAT_COMPLETIONS, 1);
	return 0;
}

/* read_dev / read_flags are compile-time constants of each program below: a program that does not
 * read the disk or the flags carries none of their CO-RE relocations, and each kind of struct or
 * enum relocated costs a search of the kernel's BTF at load. User space loads the variant that
 * reads what the options need (--disk: the issue/insert side reads the disk; -D, -F: the
 * completion side reads the disk, the flags). */
static __always_inline int rq_start(struct request *rq, bool issue, bool read_dev)
{
	struct start_key key = { .id = (__u64)rq };
	return record_start(&key, read_dev && filter_dev ? rq_dev(rq) : 0, issue);
}

static __always_inline int rq_done(struct request *rq, bool read_dev, bool read_flags)
{
	struct start_key key = { .id = (__u64)rq };
	__u32 dev = read_dev && per_disk ? rq_dev(rq) : 0;
	__u32 flags = 0;
	if (read_flags && per_flags)
		flags = map_cmd_flags(BPF_CORE_READ((struct request___bio *)rq, cmd_flags));
	return record_done(&key, dev, flags);
}

/* The tp_btf (BTF-typed arguments) and raw_tp (the same arguments, untyped) programs, named
 * biolatency_<tracepoint>_<btf|raw>[_q][_dev] for insert and issue (`_q`: the pre-5.11
 * (request_queue, request) arguments; `_dev`: reads the disk for --disk) and
 * biolatency_complete_<btf|raw>[_dev][_flags] (reads the disk for -D, the flags for -F). */
#define START_PROGS(type, tp, sfx, issue)                                                          \
	SEC(type "/block_rq_" #tp)                                                                  \
	int BPF_PROG(biolatency_##tp##_##sfx, struct request *rq) { return rq_start(rq, issue, false); } \
	SEC(type "/block_rq_" #tp)                                                                  \
	int BPF_PROG(biolatency_##tp##_##sfx##_dev, struct request *rq) { return rq_start(rq, issue, true); } \
	SEC(type "/block_rq_" #tp)                                                                  \
	int BPF_PROG(biolatency_##tp##_##sfx##_q, void *q, struct request *rq) { return rq_start(rq, issue, false); } \
	SEC(type "/block_rq_" #tp)                                                                  \
	int BPF_PROG(biolatency_##tp##_##sfx##_q_dev, void *q, struct request *rq) { return rq_start(rq, issue, true); }

#define DONE_PROGS(type, sfx)                                                                      \
	SEC(type "/block_rq_complete")                                                              \
	int BPF_PROG(biolatency_complete_##sfx, struct request *rq) { return rq_done(rq, false, false); } \
	SEC(type "/block_rq_complete")                                                              \
	int BPF_PROG(biolatency_complete_##sfx##_dev, struct request *rq) { return rq_done(rq, true, false); } \
	SEC(type "/block_rq_complete")                                                              \
	int BPF_PROG(biolatency_complete_##sfx##_flags, struct request *rq) { return rq_done(rq, false, true); } \
	SEC(type "/block_rq_complete")                                                              \
	int BPF_PROG(biolatency_complete_##sfx##_dev_flags, struct request *rq) { return rq_done(rq, true, true); }

START_PROGS("tp_btf", insert, btf, false)
START_PROGS("tp_btf", issue, btf, true)
DONE_PROGS("tp_btf", btf)
START_PROGS("raw_tp", insert, raw, false)
START_PROGS("raw_tp", issue, raw, true)
DONE_PROGS("raw_tp", raw)

/* Argument counters, never left attached. A raw_tp program that reads past a tracepoint's last
 * argument is refused at attach with EINVAL (the kernel compares the highest context offset the
 * verifier saw with the tracepoint's argument count), so attaching the one that reads ctx[N-1]
 * succeeds exactly when the tracepoint has at least N arguments. No CO-RE, no BTF: attaching them
 * costs a syscall, where loading a variant to see it fail costs a whole object load. */
SEC("raw_tp/block_rq_issue")
int biolatency_nargs_2(__u64 *ctx) { return ctx[1] != 0; }

SEC("raw_tp/block_rq_issue")
int biolatency_nargs_3(__u64 *ctx) { return ctx[2] != 0; }

/* Classic tracepoints: the tracefs record. CO-RE relocates the fields against the kernel's
 * trace_event_raw_* types; block_rq_complete's record type was renamed in 5.19 (block_rq_error
 * shares it), so both names are declared. */
struct trace_event_raw_block_rq {
	__u32 dev;
	__u64 sector;
	char rwbs[10];
} __attribute__((preserve_access_index));

struct trace_event_raw_block_rq_completion {
	__u32 dev;
	__u64 sector;
	char rwbs[10];
} __attribute__((preserve_access_index));

struct trace_event_raw_block_rq_complete {
	__u32 dev;
	__u64 sector;
	char rwbs[10];
} __attribute__((preserve_access_index));

static __always_inline int tp_start(struct trace_event_raw_block_rq *ctx, bool issue)
{
	__u32 dev = ctx->dev;
	struct start_key key = { .id = ctx->sector, .dev = dev };
	return record_start(&key, dev, issue);
}

SEC("tracepoint/block/block_rq_insert")
int biolatency_insert_tp(struct trace_event_raw_block_rq *ctx) { return tp_start(ctx, false); }

SEC("tracepoint/block/block_rq_issue")
int biolatency_issue_tp(struct trace_event_raw_block_rq *ctx) { return tp_start(ctx, true); }

SEC("tracepoint/block/block_rq_complete")
int biolatency_complete_tp(void *ctx)
{
	/* Read through bpf_probe_read (BPF_CORE_READ): the two record types make the compiler
	 * compute field addresses from a moved ctx pointer, which the verifier refuses to load. */
	__u32 dev, flags = 0;
	__u64 sector;
	if (bpf_core_type_exists(struct trace_event_raw_block_rq_completion)) {
		struct trace_event_raw_block_rq_completion *c = ctx;
		dev = BPF_CORE_READ(c, dev);
		sector = BPF_CORE_READ(c, sector);
		if (per_flags)
			flags = rwbs_flags(c->rwbs);
	} else {
		struct trace_event_raw_block_rq_complete *c = ctx;
		dev = BPF_CORE_READ(c, dev);
		sector = BPF_CORE_READ(c, sector);
		if (per_flags)
			flags = rwbs_flags(c->rwbs);
	}
	struct start_key key = { .id = sector, .dev = dev };
	return record_done(&key, per_disk ? dev : 0, flags);
}

char LICENSE[] SEC("license") = "GPL";
