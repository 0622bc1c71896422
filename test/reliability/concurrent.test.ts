// Several tools at once on one machine: two cpuprofiles on the same process, offcpu, biolatency,
// tcprtt, and doctor loading and unloading its probes in the middle. Each must see its own
// workload as if alone, and none may leave anything in the kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildWorkload, requireRoot, sleep } from '../helpers.js';
import {
  assertNoStackTrace,
  assertReleased,
  emptyHeld,
  manystacksPath,
  ourPrograms,
  startCli,
  until,
  type HeldIds,
  type JsonProfile,
  type Run,
} from './support.js';

interface HistogramSetJson {
  histograms: { labels: Record<string, string>; total: number }[];
}

/** A loopback TCP connection that ping-pongs small messages until stopped. */
async function pingPong(): Promise<{ port: number; stop(): Promise<void> }> {
  const accepted: Socket[] = [];
  const server = createServer((s) => {
    accepted.push(s);
    s.on('data', (d) => s.write(d));
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const client: Socket = connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => client.once('connect', resolve));
  let running = true;
  client.on('data', () => {
    if (running) setTimeout(() => client.write('ping'), 2);
  });
  client.write('ping');
  return {
    port,
    stop: async () => {
      running = false;
      client.destroy();
      for (const s of accepted) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

test('several tools at once each see their own workload, and leave nothing behind', async (t) => {
  if (!requireRoot(t)) return;
  const burner = spawn(buildWorkload('burner'), ['30'], { stdio: 'ignore' });
  const sleeper = spawn(manystacksPath(), ['sleep', '30'], { stdio: 'ignore' });
  const tcp = await pingPong();
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-rel-io-'));
  const runs: Run[] = [];
  try {
    await sleep(100);
    const before = ourPrograms();
    const seconds = '3';
    const cpu1 = startCli(['-v', 'cpuprofile', '-p', String(burner.pid), '-F', '99', '--json', seconds]);
    const cpu2 = startCli(['-v', 'cpuprofile', '-p', String(burner.pid), '-F', '49', '--json', seconds]);
    const off = startCli(['-v', 'offcpu', '-p', String(sleeper.pid), '--json', seconds]);
    const bio = startCli(['biolatency', '--json', '--duration', seconds]);
    const rtt = startCli(['tcprtt', '--json', '-p', String(tcp.port), '-d', seconds]);
    runs.push(cpu1, cpu2, off, bio, rtt);
    for (const [run, ready] of [
      [cpu1, /attached with/],
      [cpu2, /attached with/],
      [off, /attached with/],
      [bio, /Hit Ctrl-C to end\./],
      [rtt, /Hit Ctrl-C to end\./],
    ] as const) {
      await until('every tool to attach', () => ready.test(run.stderr()), 20_000, run);
    }
    // Everyone is collecting: doctor loads and unloads every probe and tool object meanwhile.
    const doctor = startCli(['doctor']);
    runs.push(doctor);
    // Direct I/O that reaches the disk while biolatency traces.
    const dd = spawnSync('dd', ['if=/dev/zero', `of=${join(dir, 'f')}`, 'bs=4k', 'count=64', 'oflag=direct,sync'], { encoding: 'utf8' });
    assert.equal(dd.status, 0, dd.stderr);
    const results = await Promise.all(runs.map((r) => r.done));
    const [r1, r2, ro, rb, rt, rd] = results as [typeof results[0], typeof results[0], typeof results[0], typeof results[0], typeof results[0], typeof results[0]];
    for (const [name, r] of [
      ['cpuprofile 1', r1],
      ['cpuprofile 2', r2],
      ['offcpu', ro],
      ['biolatency', rb],
      ['tcprtt', rt],
      ['doctor', rd],
    ] as const) {
      assert.equal(r.status, 0, `${name}: ${r.stderr}`);
      assertNoStackTrace(r.stderr, name);
    }

    for (const [name, r] of [
      ['cpuprofile 1', r1],
      ['cpuprofile 2', r2],
    ] as const) {
      const p = JSON.parse(r.stdout) as JsonProfile;
      assert.ok(p.stacks.length > 0, `${name}: samples`);
      assert.ok(p.stacks.every((s) => s.pid === burner.pid), `${name}: only the burner`);
      assert.ok(p.stacks.some((s) => s.frames.some((f) => f.name === 'hot_three')), `${name}: the hot function`);
    }
    const offProfile = JSON.parse(ro.stdout) as JsonProfile;
    assert.ok(offProfile.stacks.every((s) => s.pid === sleeper.pid), 'offcpu: only the sleeper');
    assert.ok(offProfile.stacks.some((s) => s.frames.some((f) => f.name === 'leaf')), 'offcpu: the blocking function');
    const bioSet = JSON.parse(rb.stdout.trim()) as HistogramSetJson;
    const ios = bioSet.histograms.reduce((n, h) => n + h.total, 0);
    assert.ok(ios >= 64, `biolatency: at least the 64 direct writes, got ${ios}`);
    const rttSet = JSON.parse(rt.stdout.trim()) as HistogramSetJson;
    assert.ok(rttSet.histograms.reduce((n, h) => n + h.total, 0) > 0, 'tcprtt: the ping-pong on its port');
    for (const tool of ['cpuprofile', 'offcpu', 'biolatency', 'tcprtt']) {
      assert.match(rd.stdout, new RegExp(`^  ${tool} +(?!unavailable)\\S`, 'm'), `doctor found a hook for ${tool} while it ran: ${rd.stdout}`);
    }

    const seen: HeldIds = emptyHeld();
    for (const r of runs) {
      for (const id of r.seen.progs) seen.progs.add(id);
      for (const id of r.seen.links) seen.links.add(id);
      for (const id of r.seen.maps) seen.maps.add(id);
    }
    assert.ok(seen.progs.size >= 5, 'each tool was seen holding its programs');
    await assertReleased('tools run side by side', seen, before, runs.map((r) => r.pid));
  } finally {
    for (const r of runs) r.child.kill('SIGKILL');
    burner.kill();
    sleeper.kill();
    await tcp.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
