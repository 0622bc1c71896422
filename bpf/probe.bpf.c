// SPDX-License-Identifier: GPL-2.0
/* Feature probes for `ebpf-otel doctor`: one trivial program per hook type. Each is loaded and
 * attached alone; what loads and attaches on this kernel is what the kernel supports. */
#include "common.bpf.h"

SEC("perf_event")
int probe_perf_event(void *ctx) { return 0; }

SEC("tp_btf/sched_switch")
int probe_tp_btf(void *ctx) { return 0; }

SEC("raw_tp/sched_switch")
int probe_raw_tp(void *ctx) { return 0; }

SEC("tracepoint/sched/sched_switch")
int probe_tracepoint(void *ctx) { return 0; }

SEC("kprobe/vfs_read")
int probe_kprobe(void *ctx) { return 0; }

SEC("fentry/vfs_read")
int probe_fentry(void *ctx) { return 0; }

SEC("uprobe")
int probe_uprobe(void *ctx) { return 0; }

char LICENSE[] SEC("license") = "GPL";
