// --otlp end to end: the tools run for real against a receiver on loopback that decodes each
// request from the OTLP proto definitions; what arrives must equal what the tool printed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildWorkload, cliPath, finished, requireRoot, sleep, spawnCli } from '../helpers.js';
import { closedPort, decodeMetricsRequest, decodeProfilesRequest, readProfiles, startReceiver } from '../otlp/receiver.js';
import type { HistogramSetJson, StackProfileJson } from '../../src/render/json.js';

/** Runs the CLI asynchronously (the receiver lives in this process, so no spawnSync). */
async function run(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return finished(spawnCli(args));
}

test('cpuprofile --otlp sends exactly the stacks it printed as an OTLP profile', async (t) => {
  if (!requireRoot(t)) return;
  const receiver = await startReceiver();
  const burner = spawn(buildWorkload('burner'), ['5'], { stdio: 'ignore' });
  try {
    await sleep(100);
    const r = await run(['cpuprofile', '-p', String(burner.pid), '-F', '99', '--json', '--otlp', receiver.base, '2']);
    assert.equal(r.status, 0, r.stderr);
    const printed = JSON.parse(r.stdout) as StackProfileJson;
    assert.equal(receiver.requests.length, 1);
    const req = receiver.requests[0]!;
    assert.equal(req.path, '/v1development/profiles');
    assert.equal(req.headers['content-type'], 'application/x-protobuf');
    const [profile, ...rest] = readProfiles(decodeProfilesRequest(req.body));
    assert.equal(rest.length, 0, 'one profile: one process');
    assert.ok(profile);
    assert.equal(profile.resource['process.pid'], burner.pid);
    assert.deepEqual(profile.sampleType, ['samples', 'count']);
    assert.deepEqual(profile.periodType, ['cpu', 'nanoseconds']);
    assert.equal(Number(profile.profile.period), Math.round(1e9 / 99));

    // Every printed stack, by thread and frame names, carries the same value in the export.
    const key = (tid: number, comm: string, names: string[]) => `${tid}|${comm}|${names.join(';')}`;
    const want = new Map<string, number>();
    for (const s of printed.stacks) {
      const k = key(s.tid, s.comm, s.frames.map((f) => f.name));
      want.set(k, (want.get(k) ?? 0) + s.value);
    }
    const got = new Map<string, number>();
    for (const s of profile.samples) {
      const k = key(s.tid, s.comm, s.frames.map((f) => f.name));
      got.set(k, (got.get(k) ?? 0) + s.value);
    }
    assert.deepEqual(got, want);
    assert.ok([...got.keys()].some((k) => k.endsWith(';hot_three')), 'the hot function arrived');
    const hot = profile.samples.flatMap((s) => s.frames).find((f) => f.name === 'hot_three');
    assert.equal(hot?.type, 'native');
    assert.ok(hot?.buildId && /^[0-9a-f]{40}$/.test(hot.buildId), 'the mapping carries the GNU build id');
  } finally {
    burner.kill();
    await receiver.close();
  }
});

test('biolatency --otlp sends the printed histogram bucket for bucket as an exponential histogram', async (t) => {
  if (!requireRoot(t)) return;
  const receiver = await startReceiver();
  const dir = mkdtempSync(join(tmpdir(), 'ebpf-otel-io-'));
  try {
    const tool = spawnCli(['biolatency', '--json', '--duration', '3', '--otlp', receiver.base]);
    const done = finished(tool);
    await sleep(800);
    // Direct I/O that reaches the disk while the tool traces.
    spawnSync('dd', ['if=/dev/zero', `of=${join(dir, 'f')}`, 'bs=4k', 'count=64', 'oflag=direct,sync'], { stdio: 'ignore' });
    const r = await done;
    assert.equal(r.status, 0, r.stderr);
    const printed = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as HistogramSetJson;
    assert.equal(receiver.requests.length, 1);
    assert.equal(receiver.requests[0]!.path, '/v1/metrics');
    const req = decodeMetricsRequest(receiver.requests[0]!.body);
    const metric = req.resource_metrics[0]!.scope_metrics[0]!.metrics[0]!;
    assert.equal(metric.name, 'ebpf_otel.biolatency');
    assert.equal(metric.unit, 'us');
    const points = metric.exponential_histogram!.data_points;
    assert.equal(points.length, printed.histograms.length);
    const h = printed.histograms[0]!;
    const p = points[0]!;
    assert.ok(h.total >= 64, `at least the 64 direct writes, got ${h.total}`);
    assert.equal(Number(p.count), h.total);
    assert.equal(p.scale, 0);
    // Rebuild the printed buckets from the exported ones: slot 0 is zero_count, bucket index i is slot i+1.
    const fromOtlp = new Map<string, number>();
    if (Number(p.zero_count) > 0) fromOtlp.set('0-0', Number(p.zero_count));
    p.positive!.bucket_counts.forEach((c, i) => {
      if (Number(c) === 0) return;
      const slot = p.positive!.offset + i + 1;
      fromOtlp.set(`${2 ** (slot - 1)}-${2 ** slot - 1}`, Number(c));
    });
    const fromPrint = new Map(h.buckets.filter((b) => b.count > 0).map((b) => [`${b.low}-${b.high}`, b.count]));
    assert.deepEqual(fromOtlp, fromPrint);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await receiver.close();
  }
});

test('an unreachable endpoint: output still printed, one-line error, non-zero exit, payload saved', async (t) => {
  if (!requireRoot(t)) return;
  const port = await closedPort();
  const burner = spawn(buildWorkload('burner'), ['4'], { stdio: 'ignore' });
  try {
    await sleep(100);
    const r = await run(['cpuprofile', '-p', String(burner.pid), '-f', '--otlp', `http://127.0.0.1:${port}`, '1']);
    assert.equal(r.status, 1);
    assert.match(r.stdout, /^burner;.* \d+$/m, 'the folded output was printed first');
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    const m = /^ebpf-otel: .*payload saved to (\S+)$/.exec(lines[0]!);
    assert.ok(m, r.stderr);
    assert.ok(existsSync(m[1]!));
    const saved = readProfiles(decodeProfilesRequest(readFileSync(m[1]!)));
    assert.ok(saved[0]!.samples.some((s) => s.frames.some((f) => f.name === 'hot_three')), 'the saved payload holds the profile');
    rmSync(m[1]!);
  } finally {
    burner.kill();
  }
});

test('a bad OTEL_* setting fails before anything is loaded, in one line', async (t) => {
  if (!requireRoot(t)) return;
  const r = await finished(
    spawn(process.execPath, [cliPath, 'cpuprofile', '1', '--otlp'], {
      env: { ...process.env, OTEL_EXPORTER_OTLP_TIMEOUT: 'soon' },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  assert.equal(r.status, 1);
  assert.match(r.stderr, /^ebpf-otel: .*OTEL_EXPORTER_OTLP_TIMEOUT.*\n$/);
});
