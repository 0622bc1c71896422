// `--otlp [URL]` and the standard OTEL_EXPORTER_OTLP_* variables -> where and how to send.
//
// Follows the OpenTelemetry "OTLP Exporter Configuration" conventions for OTLP/HTTP:
//  - OTEL_EXPORTER_OTLP_ENDPOINT is a base URL; the signal path is appended
//    (`/v1/metrics`, `/v1development/profiles`). Default http://localhost:4318.
//  - OTEL_EXPORTER_OTLP_{METRICS,PROFILES}_ENDPOINT are used as-is.
//  - `--otlp URL` beats both: a base URL, unless its path already ends in a signal path, in which
//    case that signal uses it as-is and the other signal gets the base it implies.
//  - headers, timeout and compression: the per-signal variable wins over the general one
//    (headers are merged, per-signal keys replacing general ones).
//  - An empty variable counts as unset. A bad value is an error (one line), never a silent default.
// Only OTLP/HTTP with protobuf bodies is implemented; OTEL_EXPORTER_OTLP_PROTOCOL naming anything
// else is refused rather than sending protobuf to a gRPC port.

import { UserError } from '../util/errors.js';

export type OtlpSignal = 'metrics' | 'profiles';
export type OtlpCompression = 'gzip' | 'none';

export const SIGNAL_PATHS: Readonly<Record<OtlpSignal, string>> = {
  metrics: '/v1/metrics',
  profiles: '/v1development/profiles',
};
export const DEFAULT_OTLP_ENDPOINT = 'http://localhost:4318';
export const DEFAULT_OTLP_TIMEOUT_MS = 10_000;
export const DEFAULT_SERVICE_NAME = 'ebpf-otel';

/** Everything needed to send one signal. */
export interface OtlpSignalConfig {
  signal: OtlpSignal;
  /** Full URL the request is POSTed to. */
  url: string;
  /** Extra request headers (from the *_HEADERS variables). */
  headers: Record<string, string>;
  /** Whole export budget in ms, retries included. */
  timeoutMs: number;
  compression: OtlpCompression;
}

export interface OtlpConfig {
  metrics: OtlpSignalConfig;
  profiles: OtlpSignalConfig;
  /** OTEL_SERVICE_NAME, else service.name from OTEL_RESOURCE_ATTRIBUTES, else `ebpf-otel`. */
  serviceName: string;
  /** OTEL_RESOURCE_ATTRIBUTES, decoded (service.name removed: it is in serviceName). */
  resourceAttributes: Record<string, string>;
}

/** A bad `--otlp` value or OTEL_* variable. The message is one line and names the culprit. */
export class OtlpConfigError extends UserError {
  constructor(message: string) {
    super(message);
    this.name = 'OtlpConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

const SIGNAL_ENV: Readonly<Record<OtlpSignal, string>> = { metrics: 'METRICS', profiles: 'PROFILES' };

function envValue(env: Env, name: string): string | undefined {
  const v = env[name];
  if (v === undefined) return undefined;
  const t = v.trim();
  return t === '' ? undefined : t;
}

/** What to print for a URL in messages: no credentials. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '';
      u.password = '';
    }
    return u.toString();
  } catch {
    return '(invalid URL)';
  }
}

function parseHttpUrl(text: string, source: string): URL {
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw new OtlpConfigError(`${source}: "${oneLine(text)}" is not a URL (expected e.g. http://localhost:4318)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new OtlpConfigError(`${source}: unsupported scheme "${u.protocol}" in ${redactUrl(text)} (OTLP/HTTP needs http:// or https://)`);
  }
  if (u.hash) u.hash = '';
  return u;
}

function oneLine(s: string): string {
  // eslint-disable-next-line no-control-regex
  const t = s.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
  return t.length > 120 ? `${t.slice(0, 117)}...` : t;
}

function trimSlashes(path: string): string {
  return path.replace(/\/+$/, '');
}

/** Base endpoint + signal path, as the spec says: `http://h:4318` -> `http://h:4318/v1/metrics`. */
export function signalUrl(base: URL, signal: OtlpSignal): string {
  const u = new URL(base.toString());
  u.pathname = trimSlashes(u.pathname) + SIGNAL_PATHS[signal];
  return u.toString();
}

/** The signal whose path `url` already ends in, if any. */
function signalOfPath(u: URL): OtlpSignal | undefined {
  const p = trimSlashes(u.pathname);
  for (const s of ['metrics', 'profiles'] as const) if (p.endsWith(SIGNAL_PATHS[s])) return s;
  return undefined;
}

/**
 * Parses a `key=value,key2=value2` list (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES):
 * entries split on `,`, key and value on the first `=`, both trimmed and percent-decoded.
 * Empty entries are skipped; an entry without `=` or with an empty key is an error.
 * `what` names the source in error messages. Values are never echoed (they may be secrets).
 */
export function parseKeyValueList(text: string, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  const entries = text.split(',');
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!.trim();
    if (entry === '') continue;
    const eq = entry.indexOf('=');
    if (eq < 0) throw new OtlpConfigError(`${what}: entry ${i + 1} has no "=" (expected key=value,key2=value2)`);
    let key: string;
    let value: string;
    try {
      key = decodeURIComponent(entry.slice(0, eq).trim());
      value = decodeURIComponent(entry.slice(eq + 1).trim());
    } catch {
      throw new OtlpConfigError(`${what}: entry ${i + 1} has a malformed %-escape`);
    }
    if (key === '') throw new OtlpConfigError(`${what}: entry ${i + 1} has an empty key`);
    out[key] = value;
  }
  return out;
}

/** Headers set by the exporter itself; user values for them are ignored. */
const RESERVED_HEADERS = new Set(['content-type', 'content-length', 'content-encoding', 'host', 'transfer-encoding', 'connection']);

// RFC 9110's grammar, as node:http checks it; written out here because loading node:http costs
// every run ~20 ms of start-up CPU, and only --otlp runs send anything.
/** field-name = token */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** field-value: visible characters, spaces, tabs and obs-text; no CR, LF or NUL */
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

function parseHeaders(text: string, what: string): Record<string, string> {
  const raw = parseKeyValueList(text, what);
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(raw)) {
    if (!HEADER_NAME.test(name)) throw new OtlpConfigError(`${what}: "${oneLine(name)}" is not a valid HTTP header name`);
    if (!HEADER_VALUE.test(value)) throw new OtlpConfigError(`${what}: the value of header "${name}" contains characters HTTP does not allow`);
    if (RESERVED_HEADERS.has(name.toLowerCase())) continue;
    out[name.toLowerCase()] = value;
  }
  return out;
}

function parseTimeout(text: string, what: string): number {
  const n = Number(text);
  if (!/^\d+(\.\d+)?$/.test(text) || !Number.isFinite(n) || n <= 0) {
    throw new OtlpConfigError(`${what}=${oneLine(text)} is not a timeout in milliseconds (a positive number, e.g. 10000)`);
  }
  return Math.max(1, Math.round(n));
}

function parseCompression(text: string, what: string): OtlpCompression {
  const v = text.toLowerCase();
  if (v === 'gzip' || v === 'none') return v;
  throw new OtlpConfigError(`${what}=${oneLine(text)} is not supported (use gzip or none)`);
}

function checkProtocol(env: Env, name: string): void {
  const v = envValue(env, name);
  if (v !== undefined && v !== 'http/protobuf') {
    throw new OtlpConfigError(`${name}=${oneLine(v)} is not supported: ebpf-otel sends OTLP/HTTP with protobuf (http/protobuf)`);
  }
}

/** The value of `--otlp`: absent (undefined/false), given without URL (true), or a URL. */
export type OtlpFlag = string | boolean | undefined;

/** Whether `--otlp` was given at all. */
export function otlpRequested(flag: OtlpFlag): boolean {
  return flag !== undefined && flag !== false;
}

/**
 * Resolves the export configuration. `flag` is the `--otlp` option value (true when given without
 * a URL). Throws OtlpConfigError on any bad value.
 */
export function resolveOtlpConfig(flag: OtlpFlag, env: Env = process.env): OtlpConfig {
  checkProtocol(env, 'OTEL_EXPORTER_OTLP_PROTOCOL');

  // Endpoints.
  const urls: Partial<Record<OtlpSignal, string>> = {};
  if (typeof flag === 'string' && flag.trim() !== '') {
    const u = parseHttpUrl(flag.trim(), '--otlp');
    const own = signalOfPath(u);
    const base = new URL(u.toString());
    if (own) {
      const p = trimSlashes(u.pathname);
      base.pathname = p.slice(0, p.length - SIGNAL_PATHS[own].length) || '/';
      urls[own] = u.toString();
    }
    for (const s of ['metrics', 'profiles'] as const) urls[s] ??= signalUrl(base, s);
  } else {
    const baseText = envValue(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
    const base = parseHttpUrl(baseText ?? DEFAULT_OTLP_ENDPOINT, baseText ? 'OTEL_EXPORTER_OTLP_ENDPOINT' : 'default endpoint');
    for (const s of ['metrics', 'profiles'] as const) {
      const name = `OTEL_EXPORTER_OTLP_${SIGNAL_ENV[s]}_ENDPOINT`;
      const own = envValue(env, name);
      urls[s] = own !== undefined ? parseHttpUrl(own, name).toString() : signalUrl(base, s);
    }
  }

  // Shared settings.
  const generalHeaders = envValue(env, 'OTEL_EXPORTER_OTLP_HEADERS');
  const headers = generalHeaders ? parseHeaders(generalHeaders, 'OTEL_EXPORTER_OTLP_HEADERS') : {};
  const generalTimeout = envValue(env, 'OTEL_EXPORTER_OTLP_TIMEOUT');
  const timeoutMs = generalTimeout ? parseTimeout(generalTimeout, 'OTEL_EXPORTER_OTLP_TIMEOUT') : DEFAULT_OTLP_TIMEOUT_MS;
  const generalCompression = envValue(env, 'OTEL_EXPORTER_OTLP_COMPRESSION');
  const compression = generalCompression ? parseCompression(generalCompression, 'OTEL_EXPORTER_OTLP_COMPRESSION') : 'none';

  const signalConfig = (s: OtlpSignal): OtlpSignalConfig => {
    const S = SIGNAL_ENV[s];
    checkProtocol(env, `OTEL_EXPORTER_OTLP_${S}_PROTOCOL`);
    const h = envValue(env, `OTEL_EXPORTER_OTLP_${S}_HEADERS`);
    const t = envValue(env, `OTEL_EXPORTER_OTLP_${S}_TIMEOUT`);
    const c = envValue(env, `OTEL_EXPORTER_OTLP_${S}_COMPRESSION`);
    return {
      signal: s,
      url: urls[s]!,
      headers: { ...headers, ...(h ? parseHeaders(h, `OTEL_EXPORTER_OTLP_${S}_HEADERS`) : {}) },
      timeoutMs: t ? parseTimeout(t, `OTEL_EXPORTER_OTLP_${S}_TIMEOUT`) : timeoutMs,
      compression: c ? parseCompression(c, `OTEL_EXPORTER_OTLP_${S}_COMPRESSION`) : compression,
    };
  };

  // Resource.
  const attrText = envValue(env, 'OTEL_RESOURCE_ATTRIBUTES');
  const resourceAttributes = attrText ? parseKeyValueList(attrText, 'OTEL_RESOURCE_ATTRIBUTES') : {};
  const serviceName = envValue(env, 'OTEL_SERVICE_NAME') ?? resourceAttributes['service.name'] ?? DEFAULT_SERVICE_NAME;
  delete resourceAttributes['service.name'];

  return { metrics: signalConfig('metrics'), profiles: signalConfig('profiles'), serviceName, resourceAttributes };
}
