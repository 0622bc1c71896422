// speedscope's JSON file format (https://www.speedscope.app/file-format-schema.json, shipped in
// the speedscope package as dist/release/file-format-schema.json): one "sampled" profile per
// flame tree, every distinct stack once with its value as the weight. Frames are shared between
// the profiles of one file; kernel and JIT frames keep the `_[k]` / `_[j]` suffix of folded
// output (speedscope has no frame kinds), and carry their module as `file` when it is known.

import type { FlameNode, FlameTree } from './flame-tree.js';
import { forEachStack } from './flame-tree.js';

export const SPEEDSCOPE_SCHEMA = 'https://www.speedscope.app/file-format-schema.json';

export type SpeedscopeUnit = 'none' | 'nanoseconds' | 'microseconds' | 'milliseconds' | 'seconds' | 'bytes';

export interface SpeedscopeFrame {
  name: string;
  file?: string;
}

export interface SpeedscopeSampledProfile {
  type: 'sampled';
  name: string;
  unit: SpeedscopeUnit;
  startValue: number;
  endValue: number;
  /** One stack per entry, frame indices root first. */
  samples: number[][];
  /** Weight of each entry of `samples` (always > 0). */
  weights: number[];
}

export interface SpeedscopeFile {
  $schema: typeof SPEEDSCOPE_SCHEMA;
  shared: { frames: SpeedscopeFrame[] };
  profiles: SpeedscopeSampledProfile[];
  name?: string;
  activeProfileIndex?: number;
  exporter?: string;
}

export interface SpeedscopeProfileInput {
  /** Shown in speedscope's profile selector, e.g. `before.folded`. */
  name: string;
  tree: FlameTree;
}

export interface SpeedscopeOptions {
  /** Name of the whole file (speedscope's title). Default: the first profile's name. */
  name?: string;
  /** Profile shown first (default 0). */
  activeProfileIndex?: number;
  /** e.g. `ebpf-otel 0.1.0`. */
  exporter?: string;
}

const UNITS: Record<string, SpeedscopeUnit> = {
  ns: 'nanoseconds',
  nsecs: 'nanoseconds',
  nanoseconds: 'nanoseconds',
  us: 'microseconds',
  usecs: 'microseconds',
  microseconds: 'microseconds',
  ms: 'milliseconds',
  msecs: 'milliseconds',
  milliseconds: 'milliseconds',
  s: 'seconds',
  secs: 'seconds',
  seconds: 'seconds',
  bytes: 'bytes',
};

/** speedscope's unit for a count name (`samples` and anything unknown: `none`). */
export function speedscopeUnit(countName: string): SpeedscopeUnit {
  return UNITS[countName.toLowerCase()] ?? 'none';
}

/** The frame name as folded output writes it: kernel `_[k]`, JIT `_[j]`. */
function annotated(node: FlameNode): string {
  if (node.kind === 'kernel') return `${node.name}_[k]`;
  if (node.kind === 'jit') return `${node.name}_[j]`;
  return node.name;
}

export function renderSpeedscope(profiles: readonly SpeedscopeProfileInput[], opts: SpeedscopeOptions = {}): SpeedscopeFile {
  const frames: SpeedscopeFrame[] = [];
  const index = new Map<string, number>();
  const frameIndex = (node: FlameNode): number => {
    const name = annotated(node);
    const key = JSON.stringify([name, node.module ?? null]);
    let i = index.get(key);
    if (i === undefined) {
      i = frames.length;
      frames.push(node.module !== undefined ? { name, file: node.module } : { name });
      index.set(key, i);
    }
    return i;
  };

  const out: SpeedscopeSampledProfile[] = profiles.map(({ name, tree }) => {
    const samples: number[][] = [];
    const weights: number[] = [];
    forEachStack(tree, (path, self) => {
      samples.push(path.map(frameIndex));
      weights.push(self);
    });
    return {
      type: 'sampled',
      name,
      unit: speedscopeUnit(tree.countName),
      startValue: 0,
      endValue: weights.reduce((s, w) => s + w, 0),
      samples,
      weights,
    };
  });

  const file: SpeedscopeFile = { $schema: SPEEDSCOPE_SCHEMA, shared: { frames }, profiles: out };
  const fileName = opts.name ?? profiles[0]?.name;
  if (fileName !== undefined) file.name = fileName;
  file.activeProfileIndex = opts.activeProfileIndex ?? 0;
  if (opts.exporter !== undefined) file.exporter = opts.exporter;
  return file;
}

/** The file's JSON text (compact, newline-terminated). */
export function speedscopeJson(file: SpeedscopeFile): string {
  return `${JSON.stringify(file)}\n`;
}
