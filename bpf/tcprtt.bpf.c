// SPDX-License-Identifier: GPL-2.0
/* tcprtt: BCC `tcprtt` semantics. The smoothed RTT (tcp_sock->srtt_us >> 3) of the socket each
 * time an established TCP connection receives a segment, as log2 histograms aggregated in the
 * kernel, optionally one per local (-b) or remote (-B) address, filtered in the kernel by ports,
 * addresses and family.
 *
 * Hooks, best first (user space picks the first that loads and attaches, see
 * src/commands/tcprtt.ts): the tcp_probe tracepoint as tp_btf (it fires at the top of
 * tcp_rcv_established with the same socket), then fentry and kprobe on tcp_rcv_established
 * (what BCC and libbpf-tools use), then tcp_probe as raw_tp and classic tracepoint. The classic
 * tracepoint reads its record (addresses, host-order ports, srtt already shifted) instead of the
 * socket. */
#include "common.bpf.h"
#include "tcprtt.h"
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10

/* Set by user space before load. Addresses are 16 bytes, IPv4 v4-mapped, split in two u64 read
 * from memory in host order (see tcprtt-reader.ts addressGlobals). */
const volatile __u32 group_by = TCPRTT_GROUP_NONE;
const volatile __u32 family = TCPRTT_FAMILY_ANY;
const volatile bool milliseconds = false;
const volatile __u32 lport = 0; /* 0: any */
const volatile __u32 rport = 0;
const volatile bool filter_laddr = false;
const volatile __u64 laddr_lo = 0;
const volatile __u64 laddr_hi = 0;
const volatile bool filter_raddr = false;
const volatile __u64 raddr_lo = 0;
const volatile __u64 raddr_hi = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, struct tcprtt_key);
	__type(value, struct tcprtt_hist);
} hists SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, TCPRTT_STAT_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

/* One received segment, whatever the hook: addresses v4-mapped for IPv4. */
struct seg {
	__u64 laddr[2];
	__u64 raddr[2];
	__u32 lport;
	__u32 rport;
	__u32 srtt_us;
	bool v4; /* IPv4 traffic: AF_INET, or AF_INET6 with a v4-mapped peer */
};

static __always_inline void v4_mapped(__u64 out[2], __be32 a)
{
	__u8 *b = (__u8 *)out;
	out[0] = 0;
	out[1] = 0;
	b[10] = 0xff;
	b[11] = 0xff;
	__builtin_memcpy(b + 12, &a, 4);
}

static __always_inline bool is_v4_mapped(const __u64 a[2])
{
	const __u8 *b = (const __u8 *)a;
	return a[0] == 0 && b[8] == 0 && b[9] == 0 && b[10] == 0xff && b[11] == 0xff;
}

static __always_inline int record(struct seg *s)
{
	if (lport && s->lport != lport)
		return 0;
	if (rport && s->rport != rport)
		return 0;
	if (family == TCPRTT_FAMILY_IPV4 && !s->v4)
		return 0;
	if (family == TCPRTT_FAMILY_IPV6 && s->v4)
		return 0;
	if (filter_laddr && (s->laddr[0] != laddr_lo || s->laddr[1] != laddr_hi))
		return 0;
	if (filter_raddr && (s->raddr[0] != raddr_lo || s->raddr[1] != raddr_hi))
		return 0;

	struct tcprtt_key key = {};
	if (group_by == TCPRTT_GROUP_LADDR)
		__builtin_memcpy(key.addr, s->laddr, 16);
	else if (group_by == TCPRTT_GROUP_RADDR)
		__builtin_memcpy(key.addr, s->raddr, 16);

	struct tcprtt_hist *h = bpf_map_lookup_elem(&hists, &key);
	if (!h) {
		static const struct tcprtt_hist zero = {};
		bpf_map_update_elem(&hists, &key, &zero, BPF_NOEXIST);
		h = bpf_map_lookup_elem(&hists, &key);
		if (!h) {
			stat_add(&stats, TCPRTT_STAT_HISTS_FULL, 1);
			return 0;
		}
	}
	__u32 v = milliseconds ? s->srtt_us / 1000 : s->srtt_us;
	__u32 slot = log2_slot(v, TCPRTT_MAX_SLOTS);
	if (slot < TCPRTT_MAX_SLOTS)
		__sync_fetch_and_add(&h->slots[slot], 1);
	__sync_fetch_and_add(&h->count, 1);
	__sync_fetch_and_add(&h->sum_us, s->srtt_us);
	stat_add(&stats, TCPRTT_STAT_SAMPLES, 1);
	return 0;
}

/* The socket as the struct tcp_sock it is, down through the members that embed its struct sock
 * (tcp_sock.inet_conn.icsk_inet.sk): every read below is rooted at this one type. libbpf searches
 * the kernel's whole BTF once per root type it relocates (~3 ms of start-up CPU each), and rooting
 * the sock_common reads at struct sock would be a second search. */
struct inet_sock___tcprtt {
	struct sock sk;
} __attribute__((preserve_access_index));

struct inet_connection_sock___tcprtt {
	struct inet_sock___tcprtt icsk_inet;
} __attribute__((preserve_access_index));

struct tcp_sock___tcprtt {
	struct inet_connection_sock___tcprtt inet_conn;
	__u32 srtt_us;
} __attribute__((preserve_access_index));

#define SKC(tp, field) BPF_CORE_READ(tp, inet_conn.icsk_inet.sk.__sk_common.field)

/* From the socket (fentry, kprobe, tp_btf, raw_tp). */
static __always_inline int handle_sock(struct sock *sk)
{
	struct tcp_sock___tcprtt *tp = (void *)sk;
	struct seg s = {};
	__u16 fam = SKC(tp, skc_family);
	if (fam == AF_INET) {
		v4_mapped(s.laddr, SKC(tp, skc_rcv_saddr));
		v4_mapped(s.raddr, SKC(tp, skc_daddr));
		s.v4 = true;
	} else if (fam == AF_INET6) {
		BPF_CORE_READ_INTO(&s.laddr, tp, inet_conn.icsk_inet.sk.__sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&s.raddr, tp, inet_conn.icsk_inet.sk.__sk_common.skc_v6_daddr);
		s.v4 = is_v4_mapped(s.raddr);
	} else {
		return 0;
	}
	s.lport = SKC(tp, skc_num);
	s.rport = bpf_ntohs(SKC(tp, skc_dport));
	s.srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	return record(&s);
}

SEC("fentry/tcp_rcv_established")
int BPF_PROG(tcprtt_fentry, struct sock *sk) { return handle_sock(sk); }

SEC("kprobe/tcp_rcv_established")
int BPF_KPROBE(tcprtt_kprobe, struct sock *sk) { return handle_sock(sk); }

SEC("tp_btf/tcp_probe")
int BPF_PROG(tcprtt_tp_btf, struct sock *sk) { return handle_sock(sk); }

SEC("raw_tp/tcp_probe")
int BPF_PROG(tcprtt_raw_tp, struct sock *sk) { return handle_sock(sk); }

/* The tracefs record: saddr/daddr are a sockaddr_in or sockaddr_in6 of the local and remote
 * end, sport/dport are host order, srtt is srtt_us >> 3. */
struct trace_event_raw_tcp_probe {
	__u8 saddr[28];
	__u8 daddr[28];
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u32 srtt;
} __attribute__((preserve_access_index));

static __always_inline void sockaddr_addr(__u64 out[2], const __u8 *sa, __u16 fam)
{
	if (fam == AF_INET) {
		__be32 a = 0;
		bpf_probe_read_kernel(&a, 4, sa + 4); /* sockaddr_in.sin_addr */
		v4_mapped(out, a);
	} else {
		bpf_probe_read_kernel(out, 16, sa + 8); /* sockaddr_in6.sin6_addr */
	}
}

SEC("tracepoint/tcp/tcp_probe")
int tcprtt_tracepoint(struct trace_event_raw_tcp_probe *ctx)
{
	struct seg s = {};
	__u16 fam = ctx->family;
	if (fam != AF_INET && fam != AF_INET6)
		return 0;
	sockaddr_addr(s.laddr, ctx->saddr, fam);
	sockaddr_addr(s.raddr, ctx->daddr, fam);
	s.v4 = fam == AF_INET || is_v4_mapped(s.raddr);
	s.lport = ctx->sport;
	s.rport = ctx->dport;
	s.srtt_us = ctx->srtt;
	return record(&s);
}

char LICENSE[] SEC("license") = "GPL";
