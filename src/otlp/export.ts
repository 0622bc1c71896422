// One-shot OTLP/HTTP POST with node:http/https: protobuf body, optional gzip, configured headers,
// one time budget (OTEL_EXPORTER_OTLP_TIMEOUT) that covers every attempt and every wait.
//
// Retries: 429, 502, 503 and 504 are retryable (OTLP/HTTP spec). The wait is the server's
// Retry-After (delay-seconds or HTTP-date) when given, else exponential backoff (500 ms, 1 s,
// 2 s, 4 s, capped at 5 s). When the next attempt cannot start within the budget we give up.
// Everything else fails at once: connection errors, other 4xx/5xx, redirects, the budget running
// out while waiting for an answer. Failures are OtlpExportError, a UserError with a one-line message.
// A SIGINT/SIGTERM after collection aborts the export (util/signals.ts): kind `interrupted`, whose
// exit status is the signal's (130, 143), so that the caller still saves the payload and says where.

import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { UserError } from '../util/errors.js';
import { abortableBySignal, signalExitCode } from '../util/signals.js';
import { createExclusiveFile, saveAside } from '../util/files.js';
import { redactUrl, type OtlpSignal, type OtlpSignalConfig } from './config.js';
import { readFields, WIRE_LEN, WIRE_VARINT } from './protobuf.js';
import { packageVersion } from '../util/paths.js';
import { os, zlib } from '../util/lazy-builtins.js';

export type OtlpFailureKind = 'unreachable' | 'http' | 'timeout' | 'retries-exhausted' | 'bad-config' | 'interrupted';

/** A failed export. `message` is one line, naming the signal, the URL (no credentials) and the cause. */
export class OtlpExportError extends UserError {
  readonly signal: OtlpSignal;
  readonly url: string;
  readonly kind: OtlpFailureKind;
  /** Last HTTP status, when a response came back. */
  readonly status: number | undefined;
  /** Requests made. */
  readonly attempts: number;

  /** Why it failed, without the `OTLP ... failed:` prefix. */
  readonly reason: string;
  /** Where the payload was saved (see saveFailedPayload), when it was. */
  readonly payloadPath: string | undefined;

  constructor(init: {
    signal: OtlpSignal;
    url: string;
    kind: OtlpFailureKind;
    cause: string;
    status?: number;
    attempts: number;
    payloadPath?: string;
    /** Why saving the payload failed, when it did. */
    saveError?: string;
    /** Exit status (default 1; an interrupted export exits as the signal asks). */
    exitCode?: number;
  }) {
    let message = `OTLP ${init.signal} export to ${redactUrl(init.url)} failed: ${init.cause}`;
    if (init.payloadPath !== undefined) message += `; payload saved to ${init.payloadPath}`;
    else if (init.saveError !== undefined) message += `; the payload could not be saved either (${init.saveError})`;
    super(message, init.exitCode ?? 1);
    this.name = 'OtlpExportError';
    this.signal = init.signal;
    this.url = init.url;
    this.kind = init.kind;
    this.reason = init.cause;
    this.status = init.status;
    this.attempts = init.attempts;
    this.payloadPath = init.payloadPath;
  }

  /** The same error, its message extended with where the payload went (or why it could not be saved). */
  withPayload(saved: { path: string } | { error: string }): OtlpExportError {
    return new OtlpExportError({
      signal: this.signal,
      url: this.url,
      kind: this.kind,
      cause: this.reason,
      attempts: this.attempts,
      exitCode: this.exitCode,
      ...(this.status !== undefined ? { status: this.status } : {}),
      ...('path' in saved ? { payloadPath: saved.path } : { saveError: saved.error }),
    });
  }
}

export interface PartialSuccess {
  /** rejected_data_points / rejected_profiles. */
  rejected: number;
  errorMessage: string;
}

export interface ExportResult {
  signal: OtlpSignal;
  url: string;
  /** HTTP status of the accepting response (2xx). */
  status: number;
  attempts: number;
  /** Encoded (uncompressed) payload size. */
  bytes: number;
  /** Bytes on the wire (after gzip when enabled). */
  sentBytes: number;
  /** Set when the receiver reported a partial success (rejections or a warning message). */
  partialSuccess?: PartialSuccess;
}

export interface SendHooks {
  /** Waits between attempts (tests may shorten it; default setTimeout). */
  sleep?: (ms: number) => Promise<void>;
  /** Clock in ms (default Date.now). */
  now?: () => number;
  /** First backoff delay in ms (default 500). */
  initialBackoffMs?: number;
  /** Longest backoff delay in ms (default 5000). */
  maxBackoffMs?: number;
}

const RETRYABLE = new Set([429, 502, 503, 504]);
const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * Retry-After value -> milliseconds to wait, or undefined when absent/unparseable.
 * Accepts delay-seconds (`120`) and an HTTP-date (`Wed, 21 Oct 2015 07:28:00 GMT`; past dates give 0).
 */
export function parseRetryAfter(value: string | string[] | undefined, nowMs: number): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  // HTTP-date (IMF-fixdate, RFC 850 or asctime): all start with a day name.
  if (!/^[A-Za-z]{3}/.test(v)) return undefined;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return undefined;
  return Math.max(0, t - nowMs);
}

function clean(s: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const t = s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').trim();
  return t.length > max ? `${t.slice(0, max - 3)}...` : t;
}

/** The human part of an error response: google.rpc.Status.message (protobuf), a JSON `message`, or the text. */
export function describeErrorBody(body: Uint8Array, contentType: string | undefined): string {
  if (body.length === 0) return '';
  const ct = (contentType ?? '').toLowerCase();
  if (ct.includes('protobuf')) {
    try {
      // google.rpc.Status: code = 1, message = 2, details = 3.
      const msg = readFields(body).find((f) => f.field === 2 && f.wireType === WIRE_LEN);
      if (msg && msg.value instanceof Uint8Array) return clean(new TextDecoder().decode(msg.value));
    } catch {
      // fall through to text
    }
    return '';
  }
  const text = new TextDecoder().decode(body);
  if (ct.includes('json')) {
    try {
      const j: unknown = JSON.parse(text);
      if (j && typeof j === 'object' && 'message' in j && typeof j.message === 'string') return clean(j.message);
    } catch {
      // not JSON after all
    }
  }
  return clean(text.split('\n').find((l) => l.trim() !== '') ?? '');
}

/** ExportMetricsServiceResponse / ExportProfilesServiceResponse: partial_success = 1 {rejected = 1, error_message = 2}. */
export function parsePartialSuccess(body: Uint8Array, contentType: string | undefined): PartialSuccess | undefined {
  if (body.length === 0) return undefined;
  const ct = (contentType ?? '').toLowerCase();
  try {
    if (ct.includes('json')) {
      const j: unknown = JSON.parse(new TextDecoder().decode(body));
      const ps = j && typeof j === 'object' && 'partialSuccess' in j ? (j.partialSuccess as Record<string, unknown> | null) : null;
      if (!ps || typeof ps !== 'object') return undefined;
      const rej = Number(ps.rejectedDataPoints ?? ps.rejectedProfiles ?? 0);
      const errorMessage = typeof ps.errorMessage === 'string' ? clean(ps.errorMessage) : '';
      return rej > 0 || errorMessage ? { rejected: Number.isFinite(rej) ? rej : 0, errorMessage } : undefined;
    }
    const top = readFields(body).find((f) => f.field === 1 && f.wireType === WIRE_LEN);
    if (!top || !(top.value instanceof Uint8Array)) return undefined;
    let rejected = 0;
    let errorMessage = '';
    for (const f of readFields(top.value)) {
      if (f.field === 1 && f.wireType === WIRE_VARINT && typeof f.value === 'bigint') rejected = Number(BigInt.asIntN(64, f.value));
      if (f.field === 2 && f.wireType === WIRE_LEN && f.value instanceof Uint8Array) errorMessage = clean(new TextDecoder().decode(f.value));
    }
    return rejected > 0 || errorMessage ? { rejected, errorMessage } : undefined;
  } catch {
    return undefined;
  }
}

interface Answer {
  status: number;
  statusText: string;
  headers: IncomingHttpHeaders;
  body: Uint8Array;
}

class AttemptError extends Error {
  constructor(
    readonly kind: 'unreachable' | 'timeout' | 'interrupted',
    message: string,
  ) {
    super(message);
  }
}

function describeNetworkError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const what: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ECONNRESET: 'connection reset by the server',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed (temporary)',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    ETIMEDOUT: 'connection timed out',
    EPIPE: 'connection closed by the server',
  };
  if (code && what[code]) return `${what[code]} (${code})`;
  const msg = err instanceof Error ? clean(err.message) : clean(String(err));
  return code && !msg.includes(code) ? `${msg} (${code})` : msg;
}

function postOnce(url: URL, headers: Record<string, string>, body: Uint8Array, timeoutMs: number, abort: AbortSignal): Promise<Answer> {
  return new Promise<Answer>((resolve, reject) => {
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    const onAbort = (): void => {
      finish(() => reject(new AttemptError('interrupted', `interrupted by ${String(abort.reason)}`)));
      req.destroy();
    };
    const finish = (fn: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      abort.removeEventListener('abort', onAbort);
      fn();
    };
    const req = request(url, { method: 'POST', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        if (size < MAX_RESPONSE_BYTES) chunks.push(c);
        size += c.length;
      });
      res.on('end', () =>
        finish(() =>
          resolve({
            status: res.statusCode ?? 0,
            statusText: res.statusMessage ?? '',
            headers: res.headers,
            body: new Uint8Array(Buffer.concat(chunks).subarray(0, MAX_RESPONSE_BYTES)),
          }),
        ),
      );
      res.on('error', (err) => finish(() => reject(new AttemptError('unreachable', describeNetworkError(err)))));
    });
    timer = setTimeout(() => {
      finish(() => reject(new AttemptError('timeout', 'timeout')));
      req.destroy();
    }, Math.max(1, timeoutMs));
    req.on('error', (err) => finish(() => reject(new AttemptError('unreachable', describeNetworkError(err)))));
    if (abort.aborted) onAbort();
    else abort.addEventListener('abort', onAbort);
    req.end(body);
  });
}

const defaultSleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `sleep(ms)`, cut short by `abort`. */
function abortableSleep(sleep: (ms: number) => Promise<void>, ms: number, abort: AbortSignal): Promise<void> {
  if (abort.aborted) return Promise.resolve();
  let onAbort = (): void => {};
  const aborted = new Promise<void>((resolve) => {
    onAbort = () => resolve();
    abort.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([sleep(ms), aborted]).finally(() => abort.removeEventListener('abort', onAbort));
}

/**
 * POSTs one encoded OTLP request to `cfg.url`, retrying as described above within cfg.timeoutMs.
 * Resolves on 2xx; throws OtlpExportError otherwise (kind `interrupted` when a signal aborted it).
 */
export function sendOtlp(payload: Uint8Array, cfg: OtlpSignalConfig, hooks: SendHooks = {}): Promise<ExportResult> {
  return abortableBySignal((abort) => sendOtlpUntil(payload, cfg, hooks, abort));
}

async function sendOtlpUntil(payload: Uint8Array, cfg: OtlpSignalConfig, hooks: SendHooks, abort: AbortSignal): Promise<ExportResult> {
  const now = hooks.now ?? Date.now;
  const sleep = hooks.sleep ?? defaultSleep;
  const deadline = now() + cfg.timeoutMs;
  let backoff = hooks.initialBackoffMs ?? 500;
  const maxBackoff = hooks.maxBackoffMs ?? 5000;
  const fail = (kind: OtlpFailureKind, cause: string, attempts: number, status?: number): OtlpExportError =>
    new OtlpExportError({ signal: cfg.signal, url: cfg.url, kind, cause, attempts, ...(status !== undefined ? { status } : {}) });
  const interrupted = (attempts: number): OtlpExportError => {
    const signal = String(abort.reason) as NodeJS.Signals;
    return new OtlpExportError({ signal: cfg.signal, url: cfg.url, kind: 'interrupted', cause: `interrupted by ${signal}`, attempts, exitCode: signalExitCode(signal) });
  };

  let url: URL;
  try {
    url = new URL(cfg.url);
  } catch {
    throw fail('bad-config', 'invalid URL', 0);
  }
  const body = cfg.compression === 'gzip' ? new Uint8Array(zlib().gzipSync(payload)) : payload;
  const version = packageVersion();
  const headers: Record<string, string> = {
    ...cfg.headers,
    'content-type': 'application/x-protobuf',
    'content-length': String(body.length),
    'user-agent': `ebpf-otel/${version ?? '0'} (OTLP/HTTP exporter)`,
    ...(cfg.compression === 'gzip' ? { 'content-encoding': 'gzip' } : {}),
  };

  for (let attempts = 1; ; attempts++) {
    if (abort.aborted) throw interrupted(attempts - 1);
    const remaining = deadline - now();
    if (remaining <= 0) throw fail('timeout', `no response within ${cfg.timeoutMs} ms (the export timeout)`, attempts - 1);
    let answer: Answer;
    try {
      answer = await postOnce(url, headers, body, remaining, abort);
    } catch (err) {
      if (err instanceof AttemptError && err.kind === 'interrupted') throw interrupted(attempts);
      if (err instanceof AttemptError && err.kind === 'timeout') {
        throw fail('timeout', `no response within ${cfg.timeoutMs} ms (the export timeout)`, attempts);
      }
      throw fail('unreachable', err instanceof Error ? err.message : String(err), attempts);
    }
    const { status } = answer;
    const ct = answer.headers['content-type'];
    if (status >= 200 && status < 300) {
      const result: ExportResult = { signal: cfg.signal, url: cfg.url, status, attempts, bytes: payload.length, sentBytes: body.length };
      const partial = parsePartialSuccess(answer.body, ct);
      if (partial) result.partialSuccess = partial;
      return result;
    }
    const detail = describeErrorBody(answer.body, ct);
    const statusLine = `HTTP ${status}${answer.statusText ? ` ${clean(answer.statusText, 60)}` : ''}${detail ? `: ${detail}` : ''}`;
    if (!RETRYABLE.has(status)) {
      const hint = status >= 300 && status < 400 ? ' (redirects are not followed: give the final URL)' : '';
      throw fail('http', statusLine + hint, attempts, status);
    }
    const retryAfter = parseRetryAfter(answer.headers['retry-after'], now());
    const wait = retryAfter ?? backoff;
    const left = deadline - now();
    if (wait >= left) {
      const why =
        retryAfter !== undefined
          ? `the server asked to retry after ${Math.ceil(retryAfter / 1000)} s, beyond the ${cfg.timeoutMs} ms export timeout`
          : `still failing within the ${cfg.timeoutMs} ms export timeout`;
      throw fail('retries-exhausted', `${statusLine} after ${attempts} attempt${attempts === 1 ? '' : 's'}; ${why}`, attempts, status);
    }
    await abortableSleep(sleep, wait, abort);
    if (retryAfter === undefined) backoff = Math.min(maxBackoff, backoff * 2);
  }
}

export interface SavePayloadOptions {
  /** Directory to write into (default os.tmpdir()). */
  dir?: string;
  /** Exact file name; default `ebpf-otel-<signal>-<time>-<pid>-<random>.binpb`. An existing file (or symlink) of that name is an error. */
  fileName?: string;
}

/**
 * Writes an encoded (uncompressed) OTLP request to a new file, mode 0600, opened with
 * O_CREAT|O_EXCL|O_NOFOLLOW so an existing file or symlink at that path is never followed or
 * overwritten (util/files.ts). Returns the path. It can be re-sent with:
 *   curl -H 'Content-Type: application/x-protobuf' --data-binary @PATH URL
 */
export function saveFailedPayload(bytes: Uint8Array, signal: OtlpSignal, opts: SavePayloadOptions = {}): string {
  const dir = opts.dir ?? os().tmpdir();
  if (opts.fileName !== undefined) return createExclusiveFile(dir, opts.fileName, bytes);
  return saveAside(bytes, `ebpf-otel-${signal}`, '.binpb', dir);
}
