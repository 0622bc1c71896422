// Objects loaded in the kernel (native loadInKernel, as a light skeleton loads): the kernel runs a
// loader program libbpf wrote, which creates the maps, applies the CO-RE relocations and finds
// attach targets in the kernel's own BTF, so this process never parses that BTF. BpfTool.open
// tries it first and falls back to libbpf's load.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { requireRoot } from '../helpers.js';
import { native, type NativeBpfObject } from '../../src/bpf/native.js';
import { BpfTool } from '../../src/bpf/object.js';
import { bpfObjectPath } from '../../src/util/paths.js';
import { tcprttHooks } from '../../src/commands/tcprtt.js';
import { inKernelLoading } from '../../src/commands/doctor.js';
import { TCPRTT_STAT_COUNT, TcprttStat } from '../../src/commands/tcprtt-reader.js';
import { connect, createServer, type AddressInfo } from 'node:net';

const openFds = (): number => readdirSync('/proc/self/fd').length;

function openWith(tool: string, programs: string[]): NativeBpfObject {
  const obj = new (native().BpfObject)(bpfObjectPath(tool));
  for (const p of obj.programs()) obj.setAutoload(p.name, programs.includes(p.name));
  return obj;
}

/** Runs `f` with libbpf's debug messages kept, and returns them. */
function libbpfLog(f: () => void): string {
  const addon = native();
  addon.takeLog();
  addon.setLogLevel(2);
  try {
    f();
  } finally {
    addon.setLogLevel(0);
  }
  return addon.takeLog();
}

test('a tp_btf program loaded in the kernel attaches and counts, without this process parsing the kernel BTF', (t) => {
  if (!requireRoot(t)) return;
  const before = openFds();
  const obj = openWith('probe', ['probe_tp_btf']);
  let how = '';
  const log = libbpfLog(() => (how = obj.loadInKernel()));
  try {
    assert.equal(how, 'loaded', log);
    assert.doesNotMatch(log, /loading kernel BTF/, 'libbpf did not read /sys/kernel/btf/vmlinux');
    const link = obj.attachTrace('probe_tp_btf');
    assert.ok(Number.isInteger(link));
    obj.detach(link);
    // The loader's fds are the object's: kept while it is open, closed with it.
    assert.ok(openFds() > before);
  } finally {
    obj.close();
  }
  assert.equal(openFds(), before, 'every fd of the object closed');
  // The same object through libbpf's load: it reads the kernel BTF (what the kernel load saves).
  const plain = openWith('probe', ['probe_tp_btf']);
  try {
    assert.match(libbpfLog(() => plain.load()), /loading kernel BTF/);
  } finally {
    plain.close();
  }
});

test('doctor reports in-kernel loading on this kernel', (t) => {
  if (!requireRoot(t)) return;
  assert.deepEqual(inKernelLoading(), { feature: 'in-kernel loading (5.17+)', ok: true, detail: '' });
});

test('attach kinds only libbpf makes leave the object to load(); a refused program leaves it spent', (t) => {
  if (!requireRoot(t)) return;
  const classic = openWith('probe', ['probe_tracepoint']);
  try {
    assert.equal(classic.loadInKernel(), 'untouched');
    classic.load();
    classic.detach(classic.attachTracepoint('probe_tracepoint', 'sched', 'sched_switch'));
  } finally {
    classic.close();
  }
  // fentry does not load on this kernel (see ../shared/DESIGN.md): the kernel's loader fails too,
  // and BpfTool then gets libbpf's reason from load() on a new object. Where libbpf loads it,
  // so does the kernel.
  const fentry = openWith('probe', ['probe_fentry']);
  let inKernel: string;
  try {
    inKernel = fentry.loadInKernel();
  } finally {
    fentry.close();
  }
  const plain = openWith('probe', ['probe_fentry']);
  let libbpfLoads = true;
  try {
    plain.load();
  } catch {
    libbpfLoads = false;
  } finally {
    plain.close();
  }
  assert.equal(inKernel, libbpfLoads ? 'loaded' : 'spent');
});

test('BpfTool loads in the kernel first: the program runs and its maps read and clear as before', async (t) => {
  if (!requireRoot(t)) return;
  const tool = BpfTool.open('tcprtt', tcprttHooks().filter((h) => h.name === 'tp_btf'));
  try {
    assert.equal(tool.hook, 'tp_btf');
    // Loopback traffic: tcp_probe fires on every segment received on an established socket.
    const server = createServer((s) => s.on('data', (d) => s.write(d)));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const client = connect(port, '127.0.0.1');
    for (let i = 0; i < 20; i++) {
      await new Promise<void>((resolve) => {
        client.once('data', () => resolve());
        client.write('ping');
      });
    }
    client.destroy();
    server.close();
    const samples = () => tool.perCpuCounters('stats', TCPRTT_STAT_COUNT)[TcprttStat.samples]!;
    assert.ok(samples() >= 20, `samples counted: ${samples()}`);
    tool.clear('stats');
    assert.equal(samples(), 0);
  } finally {
    tool.close();
  }
});
