// `ebpf-otel doctor`: what this kernel supports, found by loading and attaching a trivial program
// for each hook type (never by version number), and which hook each tool will use here.
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { Command } from 'commander';
import { BpfTool, type HookChoice } from '../bpf/object.js';
import { native } from '../bpf/native.js';
import { onlineCpus } from '../bpf/cpus.js';
import { hasBpfPrivileges, tracefsMounted } from '../preflight.js';
import { messageOf } from '../util/errors.js';
import { cpuprofileHooks } from './cpuprofile.js';
import { biolatencyHooks } from './biolatency.js';
import { tcprttHooks } from './tcprtt.js';
import { offcpuHooks } from './offcpu.js';
import { ElfFile } from '../symbolize/elf.js';
import type { UprobeOptions } from '../bpf/native.js';
import { stdout } from '../util/stdio.js';
import { bpfObjectPath } from '../util/paths.js';

const BPF_MAP_TYPE_RINGBUF = 27;

export interface FeatureResult {
  feature: string;
  ok: boolean;
  detail: string;
}

/** A uprobe on our own executable's entry point: a real instruction in a file we know exists. */
function uprobeProbeTarget(): UprobeOptions {
  const path = '/proc/self/exe';
  const elf = ElfFile.open(path);
  try {
    const seg = elf.loadSegments.find((p) => elf.entry >= p.vaddr && elf.entry < p.vaddr + p.filesz);
    if (!seg) throw new Error(`${path}: entry point outside every PT_LOAD segment`);
    return { path, offset: Number(elf.entry - seg.vaddr + seg.offset), pid: process.pid };
  } finally {
    elf.close();
  }
}

/** Each feature: the probe program and how to attach it. */
function featureProbes(): [string, HookChoice][] {
  const probe = (name: string, program: string, attach: HookChoice['attach']): [string, HookChoice] => [
    name,
    { name, programs: [program], attach },
  ];
  return [
    probe('perf events (cpu-clock)', 'probe_perf_event', (o) =>
      o.attachPerfEvent('probe_perf_event', { type: 1, config: 0, frequency: 1, cpus: onlineCpus().slice(0, 1) }),
    ),
    probe('tp_btf (BTF tracepoints)', 'probe_tp_btf', (o) => [o.attachTrace('probe_tp_btf')]),
    probe('raw_tp (raw tracepoints)', 'probe_raw_tp', (o) => [o.attachRawTracepoint('probe_raw_tp', 'sched_switch')]),
    probe('tracepoint (tracefs)', 'probe_tracepoint', (o) => [o.attachTracepoint('probe_tracepoint', 'sched', 'sched_switch')]),
    probe('kprobes', 'probe_kprobe', (o) => [o.attach('probe_kprobe')]),
    probe('fentry/fexit', 'probe_fentry', (o) => [o.attachTrace('probe_fentry')]),
    probe('uprobes', 'probe_uprobe', (o) => [o.attachUprobe('probe_uprobe', uprobeProbeTarget())]),
  ];
}

/**
 * Whether the kernel loads the tools' objects itself (native loadInKernel, 5.17+): where it does
 * not, every start parses the kernel's BTF in this process, ~13 ms of CPU more.
 */
export function inKernelLoading(): FeatureResult {
  const feature = 'in-kernel loading (5.17+)';
  const obj = new (native().BpfObject)(bpfObjectPath('probe'));
  try {
    for (const p of obj.programs()) obj.setAutoload(p.name, p.name === 'probe_raw_tp');
    const ok = obj.loadInKernel() === 'loaded';
    return { feature, ok, detail: ok ? '' : 'libbpf loads instead, parsing the kernel BTF at every start' };
  } catch (err) {
    return { feature, ok: false, detail: messageOf(err) };
  } finally {
    obj.close();
  }
}

/** Probes every feature; needs root. */
export function probeFeatures(): FeatureResult[] {
  const results: FeatureResult[] = [];
  results.push({ feature: 'BTF (/sys/kernel/btf/vmlinux)', ok: existsSync('/sys/kernel/btf/vmlinux'), detail: '' });
  results.push(inKernelLoading());
  for (const [feature, choice] of featureProbes()) {
    try {
      BpfTool.open('probe', [choice]).close();
      results.push({ feature, ok: true, detail: '' });
    } catch (err) {
      const why = messageOf(err)
        .replace(/^probe: no way to attach on this kernel \(/, '')
        .replace(/\)$/, '')
        .replace(`${feature}: `, '');
      const hint = feature.startsWith('tracepoint') && !tracefsMounted() ? ' (tracefs not mounted)' : '';
      results.push({ feature, ok: false, detail: why + hint });
    }
  }
  results.push({ feature: 'ring buffer', ok: native().probeMapType(BPF_MAP_TYPE_RINGBUF), detail: '' });
  return results;
}

/** The hook chains of every tool, as the tools themselves define them. */
function toolChains(): [string, HookChoice[]][] {
  return [
    ['cpuprofile', cpuprofileHooks({ frequency: 1 })],
    ['offcpu', offcpuHooks()],
    ['biolatency', biolatencyHooks()],
    ['tcprtt', tcprttHooks()],
  ];
}

export function doctorCommand(): Command {
  return new Command('doctor')
    .description('report what this kernel supports and which hook each tool will use')
    .action(() => {
      const out: string[] = [];
      const libbpf = (() => {
        try {
          return native().libbpfVersion();
        } catch (err) {
          return `unavailable: ${messageOf(err)}`;
        }
      })();
      out.push(`kernel ${release()}, libbpf ${libbpf}, node ${process.version}`);
      if (!hasBpfPrivileges()) {
        out.push('not root: run `sudo ebpf-otel doctor` to probe the kernel');
        stdout.write(`${out.join('\n')}\n`);
        process.exitCode = 1;
        return;
      }
      const width = 32;
      for (const r of probeFeatures()) {
        out.push(`  ${r.feature.padEnd(width)} ${r.ok ? 'yes' : 'no'}${r.detail ? `  (${r.detail})` : ''}`);
      }
      const lockdown = existsSync('/sys/kernel/security/lockdown') ? readFileSync('/sys/kernel/security/lockdown', 'utf8').trim() : '';
      if (lockdown) out.push(`  ${'kernel lockdown'.padEnd(width)} ${lockdown}`);
      out.push('tools:');
      for (const [tool, chain] of toolChains()) {
        let choice: string;
        try {
          const t = BpfTool.open(tool, chain);
          // with the part a tool adds once attached, when this kernel takes it
          t.loadDeferred();
          choice = t.hook;
          t.close();
        } catch (err) {
          choice = `unavailable: ${messageOf(err)}`;
        }
        out.push(`  ${tool.padEnd(width)} ${choice}`);
      }
      stdout.write(`${out.join('\n')}\n`);
    });
}
