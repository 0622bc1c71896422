// `--otlp`: the public entry points the commands call after printing their normal output.
//
//   const otlp = otlpRequested(flags.otlp) ? resolveOtlpConfig(flags.otlp) : undefined;  // before collecting
//   ...collect, print as usual...
//   if (otlp) await exportHistograms(set, otlp, { name: 'ebpf_otel.biolatency' });
//
// A failed export throws OtlpExportError (a UserError: one line, exit status 1) after saving the
// encoded payload to a file; its message ends with `; payload saved to PATH`.

import type { HistogramSet, StackProfile } from '../aggregate/model.js';
import { redactUrl, type OtlpConfig, type OtlpSignalConfig } from './config.js';
import { OtlpExportError, saveFailedPayload, sendOtlp, type ExportResult, type SendHooks } from './export.js';
import { encodeHistogramSet, type HistogramMetricOptions } from './metrics.js';
import { encodeStackProfile } from './profiles.js';
import { baseResourceAttributes, hostInfo, type HostInfo, type ProcessInfo } from './resource.js';

export { otlpRequested, resolveOtlpConfig, OtlpConfigError, type OtlpConfig, type OtlpFlag, type OtlpSignal, type OtlpSignalConfig } from './config.js';
export { OtlpExportError, saveFailedPayload, type ExportResult, type PartialSuccess } from './export.js';
export { readProcessInfo, type ProcessInfo } from './resource.js';
export type { HistogramMetricOptions } from './metrics.js';

export interface OtlpExportOptions {
  /** Where a failed payload is saved (default os.tmpdir()). */
  failedPayloadDir?: string;
  /** Host facts (default: detected). Tests pass fixed ones. */
  host?: HostInfo;
  /** Transport hooks (tests). */
  hooks?: SendHooks;
}

async function sendOrSave(payload: Uint8Array, signalConfig: OtlpSignalConfig, opts: OtlpExportOptions): Promise<ExportResult> {
  try {
    return await sendOtlp(payload, signalConfig, opts.hooks);
  } catch (err) {
    if (!(err instanceof OtlpExportError)) throw err;
    try {
      const path = saveFailedPayload(payload, signalConfig.signal, opts.failedPayloadDir !== undefined ? { dir: opts.failedPayloadDir } : {});
      throw err.withPayload({ path });
    } catch (saveErr) {
      if (saveErr instanceof OtlpExportError) throw saveErr;
      const e = saveErr as NodeJS.ErrnoException;
      throw err.withPayload({ error: e.code ?? (e instanceof Error ? e.message : String(e)) });
    }
  }
}

/**
 * Sends one histogram set as OTLP metrics (one exponential-histogram metric, one data point per
 * group) to config.metrics. Resolves with what the receiver said; throws OtlpExportError (payload
 * saved) on failure.
 */
export async function exportHistograms(
  set: HistogramSet,
  config: OtlpConfig,
  opts: HistogramMetricOptions & OtlpExportOptions = {},
): Promise<ExportResult> {
  const resource = baseResourceAttributes(config, opts.host ?? hostInfo());
  const payload = encodeHistogramSet(set, resource, opts);
  return sendOrSave(payload, config.metrics, opts);
}

/**
 * Sends one stack profile as OTLP profiles (one ResourceProfiles per process) to config.profiles.
 * `processes`: what was captured about the target processes while they ran (readProcessInfo at
 * start); pids not in it are read from /proc now, and an exited process keeps what was captured
 * (at least process.pid and the comm seen in its stacks).
 */
export async function exportProfile(
  profile: StackProfile,
  processes: ReadonlyMap<number, ProcessInfo> | readonly ProcessInfo[] | undefined,
  config: OtlpConfig,
  opts: OtlpExportOptions & { readProc?: boolean } = {},
): Promise<ExportResult> {
  const resource = baseResourceAttributes(config, opts.host ?? hostInfo());
  const payload = encodeStackProfile(profile, {
    resource,
    ...(processes !== undefined ? { processes } : {}),
    ...(opts.readProc !== undefined ? { readProc: opts.readProc } : {}),
  });
  return sendOrSave(payload, config.profiles, opts);
}

/** One line for --verbose (or for stderr after a partial success): what was sent where. */
export function describeExport(r: ExportResult): string {
  let line = `otlp: sent ${r.signal} (${r.bytes} bytes${r.sentBytes !== r.bytes ? `, ${r.sentBytes} gzipped` : ''}) to ${redactUrl(r.url)}: HTTP ${r.status}`;
  if (r.attempts > 1) line += ` after ${r.attempts} attempts`;
  if (r.partialSuccess) {
    const p = r.partialSuccess;
    line += `; the receiver rejected ${p.rejected} ${r.signal === 'metrics' ? 'data points' : 'profiles'}${p.errorMessage ? `: ${p.errorMessage}` : ''}`;
  }
  return line;
}
