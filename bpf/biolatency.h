/* The one layout that biolatency.bpf.c writes and src/commands/biolatency-reader.ts reads.
 * Plain C with UAPI types, so a test can compile it with the host compiler and check the
 * TypeScript reader's offsets against it. */
#ifndef EBPF_OTEL_BIOLATENCY_H
#define EBPF_OTEL_BIOLATENCY_H

#include <linux/types.h>

/* Model slots (slot = bit length of the latency in usecs or msecs, see src/aggregate/model.ts):
 * slot 39 holds everything from 2^38 usecs (3 days) up. */
#define BIOLATENCY_MAX_SLOTS 40

/* Key of the `hists` map: one histogram per (disk, flag set). Both are 0 unless -D / -F asked
 * for them. */
struct biolatency_key {
	__u32 dev;   /* kernel dev_t of the disk: major << 20 | minor (-D) */
	__u32 flags; /* enum biolatency_op in the low 8 bits | BIOLATENCY_F_* bits (-F) */
};

struct biolatency_hist {
	__u64 slots[BIOLATENCY_MAX_SLOTS];
	__u64 count;  /* completions recorded */
	__u64 sum_ns; /* exact sum of their latencies, nanoseconds */
};

/* The request's operation, numbered here once and for all: the kernel renumbered its REQ_OP_*
 * values (6.0 moved the zone operations), so the BPF side maps them by name through CO-RE. */
enum biolatency_op {
	BIOLATENCY_OP_READ = 0,
	BIOLATENCY_OP_WRITE = 1,
	BIOLATENCY_OP_FLUSH = 2,
	BIOLATENCY_OP_DISCARD = 3,
	BIOLATENCY_OP_SECURE_ERASE = 4,
	BIOLATENCY_OP_WRITE_ZEROES = 5,
	BIOLATENCY_OP_WRITE_SAME = 6,
	BIOLATENCY_OP_ZONE_APPEND = 7,
	BIOLATENCY_OP_ZONE_OPEN = 8,
	BIOLATENCY_OP_ZONE_CLOSE = 9,
	BIOLATENCY_OP_ZONE_FINISH = 10,
	BIOLATENCY_OP_ZONE_RESET = 11,
	BIOLATENCY_OP_ZONE_RESET_ALL = 12,
	BIOLATENCY_OP_DRV_IN = 13,
	BIOLATENCY_OP_DRV_OUT = 14,
	BIOLATENCY_OP_UNKNOWN = 255,
};

/* Request flags, likewise mapped from the kernel's __REQ_* bits by name. */
enum biolatency_flag {
	BIOLATENCY_F_SYNC = 1 << 8,
	BIOLATENCY_F_META = 1 << 9,
	BIOLATENCY_F_PRIO = 1 << 10,
	BIOLATENCY_F_NOMERGE = 1 << 11,
	BIOLATENCY_F_IDLE = 1 << 12,
	BIOLATENCY_F_INTEGRITY = 1 << 13,
	BIOLATENCY_F_FUA = 1 << 14,
	BIOLATENCY_F_PREFLUSH = 1 << 15,
	BIOLATENCY_F_RAHEAD = 1 << 16,
	BIOLATENCY_F_BACKGROUND = 1 << 17,
	BIOLATENCY_F_NOWAIT = 1 << 18,
	BIOLATENCY_F_POLLED = 1 << 19,
	BIOLATENCY_F_ATOMIC = 1 << 20,
};

/* Slots of the per-CPU `stats` array. */
enum biolatency_stat {
	BIOLATENCY_STAT_COMPLETIONS = 0,  /* completions recorded in a histogram */
	BIOLATENCY_STAT_START_FULL = 1,   /* a start was not kept: the start map was full */
	BIOLATENCY_STAT_HISTS_FULL = 2,   /* a completion was dropped: the hists map was full */
	BIOLATENCY_STAT_COUNT = 3,
};

#endif
