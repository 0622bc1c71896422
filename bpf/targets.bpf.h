/* The -p / -t (-L) filters of the stack tools: sets of tgids and tids that user space fills after
 * load and before attach (src/bpf/object.ts BpfTool.fillIdSet), consulted only when the tool's
 * filter_tgid / filter_tid global says a filter was given. */
#ifndef EBPF_OTEL_TARGETS_BPF_H
#define EBPF_OTEL_TARGETS_BPF_H

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} target_tgids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} target_tids SEC(".maps");

#endif
