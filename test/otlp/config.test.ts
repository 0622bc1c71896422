import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { OtlpConfigError, otlpRequested, parseKeyValueList, resolveOtlpConfig, signalUrl } from '../../src/otlp/config.js';
import { UserError } from '../../src/util/errors.js';

const bad = (fn: () => unknown, pattern: RegExp): void => {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof OtlpConfigError, `expected OtlpConfigError, got ${String(err)}`);
    assert.ok(err instanceof UserError);
    assert.ok(!err.message.includes('\n'), 'one line');
    assert.match(err.message, pattern);
    return true;
  });
};

describe('OTLP configuration', () => {
  it('defaults to localhost:4318 with the signal paths, no headers, 10 s, no compression', () => {
    const c = resolveOtlpConfig(true, {});
    assert.equal(c.metrics.url, 'http://localhost:4318/v1/metrics');
    assert.equal(c.profiles.url, 'http://localhost:4318/v1development/profiles');
    assert.deepEqual(c.metrics.headers, {});
    assert.equal(c.metrics.timeoutMs, 10_000);
    assert.equal(c.profiles.timeoutMs, 10_000);
    assert.equal(c.metrics.compression, 'none');
    assert.equal(c.serviceName, 'ebpf-otel');
    assert.deepEqual(c.resourceAttributes, {});
    assert.equal(c.metrics.signal, 'metrics');
    assert.equal(c.profiles.signal, 'profiles');
  });

  it('appends signal paths to OTEL_EXPORTER_OTLP_ENDPOINT (with or without trailing slash, keeping a base path)', () => {
    assert.equal(resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).metrics.url, 'http://collector:4318/v1/metrics');
    assert.equal(resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c.example/' }).profiles.url, 'https://c.example/v1development/profiles');
    assert.equal(resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_ENDPOINT: 'https://c.example/otlp/' }).metrics.url, 'https://c.example/otlp/v1/metrics');
    assert.equal(signalUrl(new URL('http://h:1/a/b'), 'profiles'), 'http://h:1/a/b/v1development/profiles');
  });

  it('uses the per-signal endpoints as-is, over the base', () => {
    const c = resolveOtlpConfig(true, {
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://base:4318',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://m:9000/custom',
      OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT: 'http://p:9001',
    });
    assert.equal(c.metrics.url, 'http://m:9000/custom');
    assert.equal(c.profiles.url, 'http://p:9001/');
  });

  it('--otlp URL overrides every endpoint variable; a base gets the signal paths', () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://base:4318', OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://m:1/x' };
    const c = resolveOtlpConfig('http://cli:4318', env);
    assert.equal(c.metrics.url, 'http://cli:4318/v1/metrics');
    assert.equal(c.profiles.url, 'http://cli:4318/v1development/profiles');
  });

  it('--otlp URL that already ends in a signal path is used as-is for that signal', () => {
    const m = resolveOtlpConfig('http://cli:4318/prefix/v1/metrics', {});
    assert.equal(m.metrics.url, 'http://cli:4318/prefix/v1/metrics');
    assert.equal(m.profiles.url, 'http://cli:4318/prefix/v1development/profiles');
    const p = resolveOtlpConfig('https://cli/v1development/profiles', {});
    assert.equal(p.profiles.url, 'https://cli/v1development/profiles');
    assert.equal(p.metrics.url, 'https://cli/v1/metrics');
  });

  it('--otlp without a URL (true) or an empty one falls back to the environment', () => {
    assert.equal(resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://e:1' }).metrics.url, 'http://e:1/v1/metrics');
    assert.equal(resolveOtlpConfig('', { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://e:1' }).metrics.url, 'http://e:1/v1/metrics');
    assert.equal(otlpRequested(undefined), false);
    assert.equal(otlpRequested(false), false);
    assert.equal(otlpRequested(true), true);
    assert.equal(otlpRequested('http://x'), true);
  });

  it('empty variables count as unset', () => {
    const c = resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_ENDPOINT: '  ', OTEL_EXPORTER_OTLP_TIMEOUT: '', OTEL_SERVICE_NAME: '' });
    assert.equal(c.metrics.url, 'http://localhost:4318/v1/metrics');
    assert.equal(c.metrics.timeoutMs, 10_000);
    assert.equal(c.serviceName, 'ebpf-otel');
  });

  it('parses headers (percent-decoded, first = splits, per-signal merged over general)', () => {
    const c = resolveOtlpConfig(true, {
      OTEL_EXPORTER_OTLP_HEADERS: 'Authorization=Basic%20dXNlcjpwYXNz==, x-tenant = a%2Cb ,,X-Common=general',
      OTEL_EXPORTER_OTLP_PROFILES_HEADERS: 'x-common=profiles,x-only-profiles=1',
    });
    assert.deepEqual(c.metrics.headers, { authorization: 'Basic dXNlcjpwYXNz==', 'x-tenant': 'a,b', 'x-common': 'general' });
    assert.deepEqual(c.profiles.headers, {
      authorization: 'Basic dXNlcjpwYXNz==',
      'x-tenant': 'a,b',
      'x-common': 'profiles',
      'x-only-profiles': '1',
    });
  });

  it('ignores user values for headers the exporter sets itself', () => {
    const c = resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_HEADERS: 'Content-Type=text/plain,x-ok=1' });
    assert.deepEqual(c.metrics.headers, { 'x-ok': '1' });
  });

  it('timeout and compression: general and per-signal', () => {
    const c = resolveOtlpConfig(true, {
      OTEL_EXPORTER_OTLP_TIMEOUT: '2500',
      OTEL_EXPORTER_OTLP_PROFILES_TIMEOUT: '30000',
      OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip',
      OTEL_EXPORTER_OTLP_METRICS_COMPRESSION: 'none',
    });
    assert.equal(c.metrics.timeoutMs, 2500);
    assert.equal(c.profiles.timeoutMs, 30000);
    assert.equal(c.metrics.compression, 'none');
    assert.equal(c.profiles.compression, 'gzip');
    assert.equal(resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_COMPRESSION: 'GZIP' }).metrics.compression, 'gzip');
  });

  it('service name: OTEL_SERVICE_NAME > service.name in OTEL_RESOURCE_ATTRIBUTES > ebpf-otel', () => {
    const a = resolveOtlpConfig(true, { OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs,deployment.environment=prod,team=a%3Db' });
    assert.equal(a.serviceName, 'from-attrs');
    assert.deepEqual(a.resourceAttributes, { 'deployment.environment': 'prod', team: 'a=b' });
    const b = resolveOtlpConfig(true, { OTEL_RESOURCE_ATTRIBUTES: 'service.name=from-attrs', OTEL_SERVICE_NAME: 'svc' });
    assert.equal(b.serviceName, 'svc');
  });

  it('accepts http/protobuf and refuses other protocols', () => {
    assert.equal(resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' }).metrics.url, 'http://localhost:4318/v1/metrics');
    bad(() => resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }), /OTEL_EXPORTER_OTLP_PROTOCOL=grpc is not supported/);
    bad(() => resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_METRICS_PROTOCOL: 'http/json' }), /OTEL_EXPORTER_OTLP_METRICS_PROTOCOL/);
  });

  it('bad values are typed one-line errors naming the variable', () => {
    bad(() => resolveOtlpConfig('not a url', {}), /^--otlp: "not a url" is not a URL/);
    bad(() => resolveOtlpConfig('ftp://x/', {}), /--otlp: unsupported scheme "ftp:"/);
    bad(() => resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_ENDPOINT: 'localhost:4318' }), /OTEL_EXPORTER_OTLP_ENDPOINT/);
    bad(() => resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT: '::' }), /OTEL_EXPORTER_OTLP_PROFILES_ENDPOINT/);
    bad(() => resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_TIMEOUT: 'ten' }), /OTEL_EXPORTER_OTLP_TIMEOUT=ten is not a timeout/);
    bad(() => resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_TIMEOUT: '0' }), /OTEL_EXPORTER_OTLP_TIMEOUT=0/);
    bad(() => resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_TIMEOUT: '-5' }), /OTEL_EXPORTER_OTLP_TIMEOUT=-5/);
    bad(() => resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_METRICS_TIMEOUT: '1e3' }), /OTEL_EXPORTER_OTLP_METRICS_TIMEOUT=1e3/);
    bad(() => resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_COMPRESSION: 'zstd' }), /OTEL_EXPORTER_OTLP_COMPRESSION=zstd is not supported \(use gzip or none\)/);
    bad(() => resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_HEADERS: 'novalue' }), /OTEL_EXPORTER_OTLP_HEADERS: entry 1 has no "="/);
    bad(() => resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_HEADERS: 'a=1,=2' }), /entry 2 has an empty key/);
    bad(() => resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_HEADERS: 'a=%zz' }), /malformed %-escape/);
    bad(() => resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_HEADERS: 'bad header=1' }), /"bad header" is not a valid HTTP header name/);
    bad(() => resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_METRICS_HEADERS: 'x=a%0Ab' }), /OTEL_EXPORTER_OTLP_METRICS_HEADERS: the value of header "x"/);
    bad(() => resolveOtlpConfig(true, { OTEL_RESOURCE_ATTRIBUTES: 'a=1,b' }), /OTEL_RESOURCE_ATTRIBUTES: entry 2 has no "="/);
  });

  it('never echoes header values (they may be secrets) and strips credentials from URLs', () => {
    assert.throws(
      () => resolveOtlpConfig(true, { OTEL_EXPORTER_OTLP_HEADERS: 'authorization=secret%0Atoken' }),
      (err: Error) => !err.message.includes('secret'),
    );
    assert.throws(() => resolveOtlpConfig('gopher://user:pw@h/', {}), (err: Error) => !err.message.includes('pw'));
  });

  it('parseKeyValueList keeps = inside values and trims around keys and values', () => {
    assert.deepEqual(parseKeyValueList(' a = b=c , d=%20e%20 ', 'X'), { a: 'b=c', d: ' e ' });
  });
});
