/* The one layout that tcprtt.bpf.c writes and src/commands/tcprtt-reader.ts reads.
 * Plain C with UAPI types, so a test can compile it with the host compiler and check the
 * TypeScript reader's offsets against it. */
#ifndef EBPF_OTEL_TCPRTT_H
#define EBPF_OTEL_TCPRTT_H

#include <linux/types.h>

/* Model slots (slot = bit length of the RTT in usecs or msecs): srtt_us is a u32, so slot 32 is
 * the highest that can ever fill. */
#define TCPRTT_MAX_SLOTS 34

/* Key of the `hists` map: the local (-b) or remote (-B) address, else all zero. IPv4 traffic
 * (AF_INET sockets, and AF_INET6 sockets talking to a v4-mapped peer) is stored v4-mapped,
 * ::ffff:a.b.c.d, so both kinds of socket group and filter alike. */
struct tcprtt_key {
	__u8 addr[16];
};

struct tcprtt_hist {
	__u64 slots[TCPRTT_MAX_SLOTS];
	__u64 count;  /* RTT samples recorded */
	__u64 sum_us; /* exact sum of those smoothed RTTs, microseconds */
};

/* What the histograms are grouped by (global `group_by`). */
enum tcprtt_group {
	TCPRTT_GROUP_NONE = 0,
	TCPRTT_GROUP_LADDR = 1,
	TCPRTT_GROUP_RADDR = 2,
};

/* Address family filter (global `family`): IPv4 traffic includes v4-mapped peers. */
enum tcprtt_family {
	TCPRTT_FAMILY_ANY = 0,
	TCPRTT_FAMILY_IPV4 = 4,
	TCPRTT_FAMILY_IPV6 = 6,
};

/* Slots of the per-CPU `stats` array. */
enum tcprtt_stat {
	TCPRTT_STAT_SAMPLES = 0,    /* samples recorded in a histogram */
	TCPRTT_STAT_HISTS_FULL = 1, /* samples dropped: the hists map was full */
	TCPRTT_STAT_COUNT = 2,
};

#endif
