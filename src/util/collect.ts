// The collection phase every tool shares: wait for the duration or Ctrl-C (SIGINT/SIGTERM),
// showing a countdown on stderr only when stderr is a terminal.
import { armAfterCollection } from './signals.js';
import { stderr, type TextOutput } from './stdio.js';

export type EndReason = 'duration' | 'signal';

export interface WaitOptions {
  /** Seconds to collect; undefined waits for a signal only. */
  durationSec?: number;
  /** Label for the countdown line, e.g. `Sampling 3 processes at 49 Hz`. */
  label: string;
  /** Off a terminal (no countdown), say once that collection has begun (announcement). */
  announce?: boolean;
  stream?: TextOutput;
}

/** The line that says collection has begun, where no countdown shows it (stderr not a terminal). */
export function announcement(label: string): string {
  return `${label}... Hit Ctrl-C to end.\n`;
}

/** Resolves when the duration ends or on the first SIGINT/SIGTERM; later signals: see util/signals.ts. */
export function waitForEnd(options: WaitOptions): Promise<EndReason> {
  const stream = options.stream ?? stderr;
  const live = stream.isTTY === true;
  const started = Date.now();
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    let ticker: NodeJS.Timeout | undefined;
    // Signal listeners do not keep the event loop alive: without a timer Node would exit mid-wait.
    const keepAlive = setInterval(() => {}, 1 << 30);
    const finish = (reason: EndReason) => {
      if (timer) clearTimeout(timer);
      if (ticker) clearInterval(ticker);
      clearInterval(keepAlive);
      if (live) stream.write('\r\x1b[K');
      // From here on a signal aborts an export in flight or stops at once (util/signals.ts);
      // armed before our listeners go, so no signal finds Node's default (silent death) between.
      armAfterCollection();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      resolve(reason);
    };
    const onSignal = () => finish('signal');
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // Only now: a reader that sends SIGINT on seeing the line must find it handled.
    if (!live && options.announce) stream.write(announcement(options.label));
    if (options.durationSec !== undefined) timer = setTimeout(() => finish('duration'), options.durationSec * 1000);
    if (live) {
      const draw = () => {
        const elapsed = (Date.now() - started) / 1000;
        const left = options.durationSec !== undefined ? `${Math.max(0, options.durationSec - elapsed).toFixed(0)}s left` : `${elapsed.toFixed(0)}s`;
        stream.write(`\r\x1b[K${options.label}... ${left} (Ctrl-C to stop)`);
      };
      draw();
      ticker = setInterval(draw, 1000);
    }
  });
}
