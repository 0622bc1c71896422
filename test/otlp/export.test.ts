import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { resolveOtlpConfig, type OtlpConfig } from '../../src/otlp/config.js';
import { OtlpExportError, parseRetryAfter, saveFailedPayload, sendOtlp, type SendHooks } from '../../src/otlp/export.js';
import { describeExport, exportHistograms, exportProfile } from '../../src/otlp/index.js';
import { UserError } from '../../src/util/errors.js';
import { baseResource, biolatency, cpuProfile, expectedSamples, processes, sampleSortKey } from './fixtures.js';
import {
  attributesOf,
  closedPort,
  decodeMetricsRequest,
  decodeProfilesRequest,
  protoRoot,
  readProfiles,
  startReceiver,
  type Receiver,
  type Responder,
} from './receiver.js';

const host = { hostName: baseResource['host.name'], kernelRelease: baseResource['os.version'], arch: baseResource['host.arch'] };
const env = { OTEL_SERVICE_NAME: baseResource['service.name'] };

let workDir: string;
before(() => {
  workDir = mkdtempSync(join(tmpdir(), 'ebpf-otel-otlp-test-'));
});
after(() => {
  rmSync(workDir, { recursive: true, force: true });
});

function savedDir(): string {
  return mkdtempSync(join(workDir, 'saved-'));
}

async function withReceiver<T>(responder: Responder | undefined, fn: (r: Receiver) => Promise<T>): Promise<T> {
  const r = await startReceiver(responder);
  try {
    return await fn(r);
  } finally {
    await r.close();
  }
}

function config(base: string, extra: Record<string, string> = {}): OtlpConfig {
  return resolveOtlpConfig(base, { ...env, ...extra });
}

/** Expects an OtlpExportError (a one-line UserError) and returns it. */
async function rejects(p: Promise<unknown>): Promise<OtlpExportError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof OtlpExportError, `expected OtlpExportError, got ${String(err)}`);
    assert.ok(err instanceof UserError);
    assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
    return err;
  }
  assert.fail('the export succeeded');
}

const encodeMetricsResponse = (rejected: number, message: string): Uint8Array => {
  const T = protoRoot().lookupType('opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse');
  return T.encode(T.fromObject({ partial_success: { rejected_data_points: rejected, error_message: message } })).finish();
};

describe('OTLP export over HTTP to a loopback receiver', () => {
  it('histograms arrive at /v1/metrics as protobuf and decode to the model', async () => {
    await withReceiver(undefined, async (r) => {
      const cfg = config(r.base, { OTEL_EXPORTER_OTLP_HEADERS: 'x-tenant=team%20a,authorization=Bearer t0k' });
      const result = await exportHistograms(biolatency, cfg, { name: 'ebpf_otel.biolatency', host });
      assert.equal(r.requests.length, 1);
      const req = r.requests[0]!;
      assert.equal(req.method, 'POST');
      assert.equal(req.path, '/v1/metrics');
      assert.equal(req.headers['content-type'], 'application/x-protobuf');
      assert.equal(req.headers['content-encoding'], undefined);
      assert.equal(req.headers['x-tenant'], 'team a');
      assert.equal(req.headers['authorization'], 'Bearer t0k');
      assert.match(String(req.headers['user-agent']), /^ebpf-otel\//);
      assert.equal(result.status, 200);
      assert.equal(result.attempts, 1);
      assert.equal(result.bytes, req.body.length);
      assert.match(describeExport(result), /^otlp: sent metrics \(\d+ bytes\) to http:\/\/127\.0\.0\.1:\d+\/v1\/metrics: HTTP 200$/);

      const d = decodeMetricsRequest(req.body);
      assert.deepEqual(attributesOf(d.resource_metrics[0]!.resource.attributes), baseResource);
      const points = d.resource_metrics[0]!.scope_metrics[0]!.metrics[0]!.exponential_histogram!.data_points;
      assert.deepEqual(
        points.map((p) => [attributesOf(p.attributes), p.count, p.zero_count, p.positive?.offset, p.positive?.bucket_counts, p.sum]),
        [
          [{ disk: 'sda' }, '19', '3', 0, ['1', '4', '0', '0', '9', '0', '0', '0', '0', '0', '0', '2'], 6189],
          [{ disk: 'nvme0n1' }, '5000000007', '0', 2, ['7', '5000000000'], undefined],
          [{ disk: 'sdb' }, '0', '0', 0, [], 0],
        ],
      );
    });
  });

  it('gzip round trip: Content-Encoding gzip, body gunzips to the same request', async () => {
    await withReceiver(undefined, async (r) => {
      const plain = await exportHistograms(biolatency, config(r.base), { host });
      const gz = await exportHistograms(biolatency, config(r.base, { OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip' }), { host });
      const [a, b] = r.requests;
      assert.equal(a!.headers['content-encoding'], undefined);
      assert.equal(b!.headers['content-encoding'], 'gzip');
      assert.equal(b!.raw[0], 0x1f);
      assert.equal(b!.raw[1], 0x8b);
      assert.notDeepEqual(b!.raw, b!.body);
      assert.deepEqual(b!.body, a!.body);
      assert.equal(gz.bytes, plain.bytes);
      assert.equal(gz.sentBytes, b!.raw.length);
      assert.ok(gz.sentBytes < gz.bytes);
    });
  });

  it('a stack profile arrives at /v1development/profiles (gzip) and every stack decodes to the model', async () => {
    await withReceiver(undefined, async (r) => {
      const cfg = config(r.base, { OTEL_EXPORTER_OTLP_PROFILES_COMPRESSION: 'gzip' });
      await exportProfile(cpuProfile, processes, cfg, { host, readProc: false });
      assert.equal(r.requests.length, 1);
      const req = r.requests[0]!;
      assert.equal(req.path, '/v1development/profiles');
      assert.equal(req.headers['content-encoding'], 'gzip');
      const got = readProfiles(decodeProfilesRequest(req.body));
      const want = expectedSamples(cpuProfile, () => 'v8js');
      assert.equal(got.length, want.size);
      for (const p of got) {
        const pid = Number(p.resource['process.pid'] ?? 0);
        assert.deepEqual(p.samples.map(sampleSortKey).sort(), want.get(pid)!.map(sampleSortKey).sort(), `pid ${pid}`);
        assert.equal(p.resource['service.name'], baseResource['service.name']);
        assert.deepEqual(p.sampleType, ['samples', 'count']);
        assert.equal(p.profile.period, '20408163');
      }
    });
  });

  it('reports a partial success from the receiver', async () => {
    const body = encodeMetricsResponse(2, 'dropped 2 points');
    await withReceiver(
      () => ({ status: 200, headers: { 'content-type': 'application/x-protobuf' }, body }),
      async (r) => {
        const result = await exportHistograms(biolatency, config(r.base), { host });
        assert.deepEqual(result.partialSuccess, { rejected: 2, errorMessage: 'dropped 2 points' });
        assert.match(describeExport(result), /the receiver rejected 2 data points: dropped 2 points$/);
      },
    );
  });
});

describe('OTLP export failures: loud, one line, payload saved', () => {
  it('connection refused -> error naming the URL, payload saved and decodable', async () => {
    const port = await closedPort();
    const dir = savedDir();
    const err = await rejects(exportHistograms(biolatency, config(`http://127.0.0.1:${port}`), { host, failedPayloadDir: dir }));
    assert.equal(err.kind, 'unreachable');
    assert.match(err.message, new RegExp(`^OTLP metrics export to http://127\\.0\\.0\\.1:${port}/v1/metrics failed: connection refused \\(ECONNREFUSED\\); payload saved to `));
    assert.ok(err.payloadPath && err.payloadPath.startsWith(dir));
    assert.ok(err.message.endsWith(err.payloadPath));
    const saved = readFileSync(err.payloadPath);
    const d = decodeMetricsRequest(saved);
    assert.equal(d.resource_metrics[0]!.scope_metrics[0]!.metrics[0]!.exponential_histogram!.data_points.length, 3);
    assert.equal(statSync(err.payloadPath).mode & 0o777, 0o600);
  });

  it('400 -> error with the status and the server message, no retry', async () => {
    await withReceiver(
      () => ({ status: 400, headers: { 'content-type': 'text/plain' }, body: 'invalid exponential histogram\nmore detail' }),
      async (r) => {
        const err = await rejects(exportProfile(cpuProfile, processes, config(r.base), { host, readProc: false, failedPayloadDir: savedDir() }));
        assert.equal(r.requests.length, 1);
        assert.equal(err.kind, 'http');
        assert.equal(err.status, 400);
        assert.match(err.message, /^OTLP profiles export to http:\/\/127\.0\.0\.1:\d+\/v1development\/profiles failed: HTTP 400 Bad Request: invalid exponential histogram; payload saved to /);
        // the saved file is the uncompressed request
        assert.ok(readProfiles(decodeProfilesRequest(readFileSync(err.payloadPath!))).length > 0);
      },
    );
  });

  it('500 -> error, no retry; a google.rpc.Status body gives the message', async () => {
    const Status = (await import('protobufjs')).default.parse('syntax = "proto3"; message Status { int32 code = 1; string message = 2; }').root.lookupType('Status');
    const body = Status.encode(Status.fromObject({ code: 13, message: 'storage down' })).finish();
    await withReceiver(
      () => ({ status: 500, headers: { 'content-type': 'application/x-protobuf' }, body }),
      async (r) => {
        const err = await rejects(exportHistograms(biolatency, config(r.base), { host, failedPayloadDir: savedDir() }));
        assert.equal(r.requests.length, 1);
        assert.equal(err.status, 500);
        assert.match(err.message, /failed: HTTP 500 Internal Server Error: storage down; payload saved to /);
      },
    );
  });

  it('timeout: a server that never answers -> error after the timeout (generous bound)', async () => {
    await withReceiver(
      () => 'hang',
      async (r) => {
        const t0 = Date.now();
        const err = await rejects(
          exportHistograms(biolatency, config(r.base, { OTEL_EXPORTER_OTLP_TIMEOUT: '300' }), { host, failedPayloadDir: savedDir() }),
        );
        const elapsed = Date.now() - t0;
        assert.equal(err.kind, 'timeout');
        assert.equal(r.requests.length, 1);
        assert.match(err.message, /failed: no response within 300 ms \(the export timeout\); payload saved to /);
        assert.ok(elapsed >= 250 && elapsed < 5000, `elapsed ${elapsed} ms`);
      },
    );
  });

  it('429 with Retry-After: 1 then 200 -> success on the second request, after waiting as asked', async () => {
    const waits: number[] = [];
    const hooks: SendHooks = {
      sleep: (ms) => {
        waits.push(ms);
        return new Promise((r) => setTimeout(r, 20));
      },
    };
    await withReceiver(
      (_req, n) => (n === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }),
      async (r) => {
        const result = await exportHistograms(biolatency, config(r.base), { host, hooks });
        assert.equal(r.requests.length, 2);
        assert.equal(result.attempts, 2);
        assert.deepEqual(waits, [1000]);
        assert.deepEqual(r.requests[1]!.body, r.requests[0]!.body, 'the same payload is re-sent');
      },
    );
  });

  it('429 with Retry-After really waits (real clock, generous bounds)', async () => {
    await withReceiver(
      (_req, n) => (n === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }),
      async (r) => {
        const t0 = Date.now();
        const result = await exportHistograms(biolatency, config(r.base), { host });
        const elapsed = Date.now() - t0;
        assert.equal(result.attempts, 2);
        assert.ok(elapsed >= 900 && elapsed < 8000, `elapsed ${elapsed} ms`);
      },
    );
  });

  it('503 without Retry-After: exponential backoff, then gives up within the timeout', async () => {
    let clock = 1_000_000;
    const waits: number[] = [];
    const hooks: SendHooks = {
      now: () => clock,
      sleep: async (ms) => {
        waits.push(ms);
        clock += ms;
      },
    };
    await withReceiver(
      () => ({ status: 503 }),
      async (r) => {
        const err = await rejects(exportHistograms(biolatency, config(r.base), { host, hooks, failedPayloadDir: savedDir() }));
        assert.equal(err.kind, 'retries-exhausted');
        assert.equal(err.status, 503);
        // 10 s budget: waits 0.5 + 1 + 2 + 4 = 7.5 s; the next (5 s, capped) would pass the deadline.
        assert.deepEqual(waits, [500, 1000, 2000, 4000]);
        assert.equal(r.requests.length, 5);
        assert.equal(err.attempts, 5);
        assert.match(err.message, /failed: HTTP 503 Service Unavailable after 5 attempts; still failing within the 10000 ms export timeout; payload saved to /);
      },
    );
  });

  it('503 retried on the real clock gives up within the timeout (generous bound)', async () => {
    await withReceiver(
      () => ({ status: 503 }),
      async (r) => {
        const t0 = Date.now();
        const err = await rejects(
          exportHistograms(biolatency, config(r.base, { OTEL_EXPORTER_OTLP_TIMEOUT: '1200' }), { host, failedPayloadDir: savedDir() }),
        );
        const elapsed = Date.now() - t0;
        assert.equal(err.kind, 'retries-exhausted');
        assert.ok(r.requests.length >= 2, `retried (${r.requests.length} requests)`);
        assert.ok(elapsed < 1200 + 2000, `elapsed ${elapsed} ms`);
      },
    );
  });

  it('503 with a Retry-After past the timeout gives up at once', async () => {
    await withReceiver(
      () => ({ status: 503, headers: { 'retry-after': '120' } }),
      async (r) => {
        const err = await rejects(exportHistograms(biolatency, config(r.base), { host, failedPayloadDir: savedDir() }));
        assert.equal(r.requests.length, 1);
        assert.match(err.message, /HTTP 503 Service Unavailable after 1 attempt; the server asked to retry after 120 s, beyond the 10000 ms export timeout/);
      },
    );
  });

  it('redirects are errors, not followed', async () => {
    await withReceiver(
      () => ({ status: 307, headers: { location: 'http://127.0.0.1:1/elsewhere' } }),
      async (r) => {
        const err = await rejects(exportHistograms(biolatency, config(r.base), { host, failedPayloadDir: savedDir() }));
        assert.equal(r.requests.length, 1);
        assert.match(err.message, /HTTP 307 Temporary Redirect \(redirects are not followed/);
      },
    );
  });

  it('the URL in messages carries no credentials', async () => {
    const port = await closedPort();
    const err = await rejects(
      sendOtlp(new Uint8Array([1]), { signal: 'metrics', url: `http://user:s3cret@127.0.0.1:${port}/v1/metrics`, headers: {}, timeoutMs: 2000, compression: 'none' }),
    );
    assert.ok(!err.message.includes('s3cret'), err.message);
    assert.equal(err.payloadPath, undefined, 'sendOtlp alone saves nothing');
  });
});

describe('Retry-After and saved payloads', () => {
  it('parses delay-seconds and HTTP-dates', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    assert.equal(parseRetryAfter('7', now), 7000);
    assert.equal(parseRetryAfter(' 0 ', now), 0);
    assert.equal(parseRetryAfter('Thu, 01 Jan 2026 00:00:03 GMT', now), 3000);
    assert.equal(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now), 0, 'a past date: retry now');
    assert.equal(parseRetryAfter(['2', '9'], now), 2000);
    assert.equal(parseRetryAfter('soon', now), undefined);
    assert.equal(parseRetryAfter('-1', now), undefined);
    assert.equal(parseRetryAfter(undefined, now), undefined);
  });

  it('writes a new 0600 file with the bytes and returns its path', () => {
    const dir = savedDir();
    const bytes = new Uint8Array([0x0a, 0x00, 0xff]);
    const a = saveFailedPayload(bytes, 'profiles', { dir });
    const b = saveFailedPayload(bytes, 'profiles', { dir });
    assert.notEqual(a, b);
    assert.match(a, /\/ebpf-otel-profiles-\d{8}T\d{6}Z-\d+-[0-9a-f]{8}\.binpb$/);
    assert.deepEqual(new Uint8Array(readFileSync(a)), bytes);
    assert.equal(statSync(a).mode & 0o777, 0o600);
    assert.equal(readdirSync(dir).length, 2);
  });

  it('never follows a symlink planted at the target (existing or dangling target)', () => {
    const dir = savedDir();
    const victim = join(dir, 'victim.txt');
    writeFileSync(victim, 'original');
    symlinkSync(victim, join(dir, 'planted.binpb'));
    assert.throws(() => saveFailedPayload(new Uint8Array([1, 2, 3]), 'metrics', { dir, fileName: 'planted.binpb' }), { code: 'EEXIST' });
    assert.equal(readFileSync(victim, 'utf8'), 'original');
    assert.ok(lstatSync(join(dir, 'planted.binpb')).isSymbolicLink());

    const absent = join(dir, 'would-be-created');
    symlinkSync(absent, join(dir, 'dangling.binpb'));
    assert.throws(() => saveFailedPayload(new Uint8Array([1]), 'metrics', { dir, fileName: 'dangling.binpb' }), { code: 'EEXIST' });
    assert.equal(existsSync(absent), false, 'the symlink target was not created');
  });

  it('an export whose payload cannot be saved still fails with one line saying so', async () => {
    const port = await closedPort();
    const err = await rejects(
      exportHistograms(biolatency, config(`http://127.0.0.1:${port}`), { host, failedPayloadDir: join(workDir, 'no', 'such', 'dir') }),
    );
    assert.match(err.message, /connection refused \(ECONNREFUSED\); the payload could not be saved either \(ENOENT\)$/);
  });
});
