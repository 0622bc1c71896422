// The flame model: stacks aggregated into a call tree, root first, one node per distinct path
// from the root. It is what `flame` builds while it streams folded input (memory grows with the
// number of distinct paths, never with the number of input lines) and what the flame renderers
// (HTML page, speedscope) consume. A StackProfile (from a profiler run) becomes the same tree, so
// `flame FILE` and `flame cpu` render identically.
//
// Names are made terminal- and HTML-text-safe here once (control, bidi and separator characters
// shown as `\xNN` / `\u{XXXX}`, see sanitize.ts); HTML escaping is the page renderer's job.

import type { FrameKind, StackProfile } from '../aggregate/model.js';
import { foldedToStacks, type FoldedRecord } from './folded.js';
import { sanitizeTerminal } from './sanitize.js';

/** One frame on the way into the tree. */
export interface FlameFrame {
  name: string;
  kind: FrameKind;
  module?: string;
}

export interface FlameNode {
  /** Frame name as shown (sanitized; no `_[k]`/`_[j]` suffix: `kind` carries that). */
  readonly name: string;
  readonly kind: FrameKind;
  /** File the code came from, when the input said (profiles only; folded text does not carry it). */
  module?: string;
  /** Inclusive value: every stack through this node. */
  value: number;
  /** Value of the stacks that end at this node. */
  self: number;
  /** Differential trees only: inclusive value in the baseline (before) profile, scaled when normalised. */
  before?: number;
  /** Children by kind and raw name; use `sortedChildren` for a stable order. */
  readonly children: Map<string, FlameNode>;
}

export interface FlameDiffInfo {
  /** BEFORE was scaled so that its total equals AFTER's (flamegraph.pl difffolded -n). */
  normalized: boolean;
  /** Total of BEFORE as read (not scaled). */
  beforeTotal: number;
  /** Largest |after - before| over all frames except the root (for colour intensity). */
  maxDelta: number;
}

export interface FlameTree {
  /** The synthetic root `all`; its value is the profile total. */
  root: FlameNode;
  /** What the values count: `samples`, `nanoseconds`, or the label the user gave (`--countname`). */
  countName: string;
  /** Present for a differential tree: node values are AFTER, `before` holds BEFORE. */
  diff?: FlameDiffInfo;
}

export const ROOT_NAME = 'all';

function newNode(name: string, kind: FrameKind): FlameNode {
  return { name, kind, value: 0, self: 0, children: new Map() };
}

function childKey(kind: FrameKind, rawName: string): string {
  return `${kind.charAt(0)}${rawName}`;
}

function displayName(raw: string): string {
  return raw === '' ? '[unknown]' : sanitizeTerminal(raw);
}

/** Children ordered by name, then kind (code-unit order, as flamegraph.pl sorts frames). */
export function sortedChildren(node: FlameNode): FlameNode[] {
  return [...node.children.values()].sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0,
  );
}

/**
 * Builds a tree one stack at a time. Stacks with a value of 0 (or not a finite positive number)
 * add nothing.
 */
export class FlameTreeBuilder {
  private readonly root = newNode(ROOT_NAME, 'marker');
  private readonly countName: string;

  constructor(countName = 'samples') {
    this.countName = countName;
  }

  /** Add one stack, root frame first. */
  add(frames: readonly FlameFrame[], value: number): void {
    if (!(value > 0) || !Number.isFinite(value)) return;
    let node = this.root;
    node.value += value;
    for (const f of frames) {
      const key = childKey(f.kind, f.name);
      let child = node.children.get(key);
      if (!child) {
        child = newNode(displayName(f.name), f.kind);
        if (f.module !== undefined) child.module = f.module;
        node.children.set(key, child);
      }
      child.value += value;
      node = child;
    }
    node.self += value;
  }

  /**
   * Add one parsed folded line. Every field is a frame (the first is usually the process name);
   * `name_[k]` is a kernel frame, `name_[j]` a JIT frame, and BCC's `-` delimiter before a kernel
   * frame is dropped, as `foldedToStacks` reads them.
   */
  addFolded(record: FoldedRecord): void {
    const [stack] = foldedToStacks([record], { hasComm: false });
    if (stack) this.add(stack.frames, stack.value);
  }

  /** Add every stack of a profile: the thread name is the first frame, then the stack root first. */
  addProfile(profile: StackProfile): void {
    for (const r of profile.stacks) {
      const frames: FlameFrame[] = [{ name: r.comm, kind: 'user' }];
      for (const f of r.frames) frames.push(f.module !== undefined ? { name: f.name, kind: f.kind, module: f.module } : { name: f.name, kind: f.kind });
      this.add(frames, r.value);
    }
  }

  /** Total value added so far. */
  get total(): number {
    return this.root.value;
  }

  build(): FlameTree {
    return { root: this.root, countName: this.countName };
  }
}

/** The count name a profile's values are in. */
export function profileCountName(profile: StackProfile): string {
  return profile.unit === 'nanoseconds' ? 'nanoseconds' : 'samples';
}

/** The tree of a profile (values in the profile's unit: samples, or nanoseconds off-CPU). */
export function treeFromProfile(profile: StackProfile): FlameTree {
  const b = new FlameTreeBuilder(profileCountName(profile));
  b.addProfile(profile);
  return b.build();
}

/** The tree of parsed folded lines. */
export function treeFromFolded(records: Iterable<FoldedRecord>, countName = 'samples'): FlameTree {
  const b = new FlameTreeBuilder(countName);
  for (const r of records) b.addFolded(r);
  return b.build();
}

export interface DiffOptions {
  /** Scale BEFORE so its total equals AFTER's before comparing (default false). */
  normalize?: boolean;
}

/**
 * Differential tree, as flamegraph.pl's difffolded + flamegraph: the shape and widths are AFTER
 * (`value`), each node also carries BEFORE (`before`), so `value - before` is how much the frame
 * grew (> 0) or shrank (< 0). Paths only in BEFORE are kept with value 0 (they have no width).
 */
export function diffTrees(before: FlameTree, after: FlameTree, opts: DiffOptions = {}): FlameTree {
  const normalized = Boolean(opts.normalize);
  const beforeTotal = before.root.value;
  const scale = normalized && beforeTotal > 0 ? after.root.value / beforeTotal : 1;
  let maxDelta = 0;

  const merge = (a: FlameNode | undefined, b: FlameNode | undefined): FlameNode => {
    const proto = (a ?? b)!;
    const n = newNode(proto.name, proto.kind);
    const module = a?.module ?? b?.module;
    if (module !== undefined) n.module = module;
    n.value = a?.value ?? 0;
    n.self = a?.self ?? 0;
    n.before = (b?.value ?? 0) * scale;
    return n;
  };

  const root = merge(after.root, before.root);
  const work: Array<[FlameNode, FlameNode | undefined, FlameNode | undefined]> = [[root, after.root, before.root]];
  for (let item = work.pop(); item; item = work.pop()) {
    const [out, a, b] = item;
    const keys = new Set<string>([...(a?.children.keys() ?? []), ...(b?.children.keys() ?? [])]);
    for (const key of keys) {
      const ac = a?.children.get(key);
      const bc = b?.children.get(key);
      const child = merge(ac, bc);
      maxDelta = Math.max(maxDelta, Math.abs(child.value - (child.before ?? 0)));
      out.children.set(key, child);
      work.push([child, ac, bc]);
    }
  }
  return { root, countName: after.countName, diff: { normalized, beforeTotal, maxDelta } };
}

/**
 * Visit every stack that ends somewhere (a node with self value > 0), in sorted depth-first
 * order, with the path from the first frame below the root to that node. The path array is
 * reused between calls: copy it to keep it.
 */
export function forEachStack(tree: FlameTree, visit: (path: readonly FlameNode[], self: number) => void): void {
  const path: FlameNode[] = [];
  const stack: Array<{ node: FlameNode; depth: number }> = sortedChildren(tree.root)
    .reverse()
    .map((node) => ({ node, depth: 0 }));
  for (let item = stack.pop(); item; item = stack.pop()) {
    path.length = item.depth;
    path.push(item.node);
    if (item.node.self > 0) visit(path, item.node.self);
    const kids = sortedChildren(item.node);
    for (let i = kids.length - 1; i >= 0; i--) stack.push({ node: kids[i]!, depth: item.depth + 1 });
  }
}

/** Number of nodes below the root, and the deepest path's length. */
export function treeStats(tree: FlameTree): { frames: number; maxDepth: number } {
  let frames = 0;
  let maxDepth = 0;
  const stack: Array<[FlameNode, number]> = [[tree.root, 0]];
  for (let item = stack.pop(); item; item = stack.pop()) {
    const [node, depth] = item;
    if (depth > 0) frames += 1;
    if (depth > maxDepth) maxDepth = depth;
    for (const c of node.children.values()) stack.push([c, depth + 1]);
  }
  return { frames, maxDepth };
}
