// speedscope output checked against the schema the speedscope package ships, with a small
// validator for exactly the JSON-schema keywords that schema uses (any other keyword fails the
// test, so a schema change cannot be silently ignored), and round-tripped back to stacks.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

import { parseFolded } from '../../src/render/folded.js';
import { diffTrees, treeFromFolded, treeFromProfile, type FlameTree } from '../../src/render/flame-tree.js';
import { SPEEDSCOPE_SCHEMA, renderSpeedscope, speedscopeJson, speedscopeUnit, type SpeedscopeFile } from '../../src/render/speedscope.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Schema = { [k: string]: Json };

const schemaPath = join(dirname(createRequire(import.meta.url).resolve('speedscope/package.json')), 'dist', 'release', 'file-format-schema.json');
const SCHEMA = JSON.parse(readFileSync(schemaPath, 'utf8')) as Schema;

const KNOWN = new Set(['$schema', '$ref', 'definitions', 'title', 'type', 'properties', 'required', 'items', 'anyOf', 'enum', 'const']);

function typeOk(type: string, v: Json): boolean {
  switch (type) {
    case 'object':
      return typeof v === 'object' && v !== null && !Array.isArray(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'number':
      return typeof v === 'number' && Number.isFinite(v);
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'boolean':
      return typeof v === 'boolean';
    case 'null':
      return v === null;
    default:
      throw new Error(`schema uses unknown type ${type}`);
  }
}

/** Errors of `v` against `s` (empty when valid). */
function validate(s: Schema, v: Json, root: Schema = s, at = '$'): string[] {
  for (const k of Object.keys(s)) if (!KNOWN.has(k)) throw new Error(`schema keyword ${k} at ${at} is not supported by this validator`);
  if (typeof s.$ref === 'string') {
    const m = /^#\/definitions\/(.+)$/.exec(s.$ref);
    if (!m) throw new Error(`unsupported $ref ${s.$ref}`);
    const target = (root.definitions as Record<string, Schema>)[m[1]!];
    if (!target) throw new Error(`dangling $ref ${s.$ref}`);
    const errs = validate(target, v, root, at);
    if (errs.length) return errs;
  }
  if (typeof s.type === 'string' && !typeOk(s.type, v)) return [`${at}: expected ${s.type}, got ${JSON.stringify(v)?.slice(0, 40)}`];
  const errs: string[] = [];
  if ('const' in s && JSON.stringify(s.const) !== JSON.stringify(v)) errs.push(`${at}: expected ${JSON.stringify(s.const)}`);
  if (Array.isArray(s.enum) && !s.enum.some((e) => JSON.stringify(e) === JSON.stringify(v))) errs.push(`${at}: not one of ${JSON.stringify(s.enum)}`);
  if (Array.isArray(s.anyOf) && !s.anyOf.some((alt) => validate(alt as Schema, v, root, at).length === 0)) errs.push(`${at}: matches none of anyOf`);
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    for (const r of (s.required as string[] | undefined) ?? []) if (!(r in v)) errs.push(`${at}: missing ${r}`);
    const props = (s.properties as Record<string, Schema> | undefined) ?? {};
    for (const [k, ps] of Object.entries(props)) if (k in v) errs.push(...validate(ps, v[k]!, root, `${at}.${k}`));
  }
  if (Array.isArray(v) && s.items) v.forEach((item, i) => errs.push(...validate(s.items as Schema, item, root, `${at}[${i}]`)));
  return errs;
}

function tree(text: string): FlameTree {
  const { records, errors } = parseFolded(text);
  assert.deepEqual(errors, []);
  return treeFromFolded(records);
}

/** speedscope samples back to sorted folded lines. */
function toFolded(file: SpeedscopeFile, profile = 0): string[] {
  const p = file.profiles[profile]!;
  const sums = new Map<string, number>();
  p.samples.forEach((stack, i) => {
    const key = stack.map((f) => file.shared.frames[f]!.name).join(';');
    sums.set(key, (sums.get(key) ?? 0) + p.weights[i]!);
  });
  return [...sums].map(([k, v]) => `${k} ${v}`).sort();
}

const FOLDED = [
  'burner;_start;main;hot_one 100',
  'burner;_start;main;hot_three 300',
  'burner;_start;main;write;entry_SYSCALL_64_[k];ksys_write_[k] 20',
  'node;LazyCompile:*fib_[j];uv_run 7',
  'weird;<img src=x onerror=alert(1)>;name with spaces 2 3',
];

describe('the schema validator', () => {
  it('accepts a minimal valid file and rejects broken ones (so it can fail)', () => {
    const ok = { $schema: SPEEDSCOPE_SCHEMA, shared: { frames: [{ name: 'a' }] }, profiles: [] } as Json;
    assert.deepEqual(validate(SCHEMA, ok), []);
    const bad: Array<[Json, RegExp]> = [
      [{ shared: { frames: [] }, profiles: [] }, /missing \$schema/],
      [{ $schema: 'x', shared: { frames: [] }, profiles: [] }, /expected "https/],
      [{ $schema: SPEEDSCOPE_SCHEMA, shared: { frames: [{}] }, profiles: [] }, /frames\[0\]: missing name/],
      [
        { $schema: SPEEDSCOPE_SCHEMA, shared: { frames: [] }, profiles: [{ type: 'sampled', name: 'p', unit: 'none', startValue: 0, endValue: 1, samples: [[0]], weights: ['1'] }] },
        /anyOf/,
      ],
      [
        { $schema: SPEEDSCOPE_SCHEMA, shared: { frames: [] }, profiles: [{ type: 'sampled', name: 'p', unit: 'furlongs', startValue: 0, endValue: 1, samples: [], weights: [] }] },
        /anyOf/,
      ],
    ];
    for (const [doc, re] of bad) assert.match(validate(SCHEMA, doc).join('\n'), re, JSON.stringify(doc));
  });
});

describe('renderSpeedscope', () => {
  it('writes a file the schema accepts, which reads back to the same stacks', () => {
    const t = tree(FOLDED.join('\n'));
    const text = speedscopeJson(renderSpeedscope([{ name: 'cpu.folded', tree: t }], { exporter: 'ebpf-otel test' }));
    const file = JSON.parse(text) as SpeedscopeFile;
    assert.deepEqual(validate(SCHEMA, file as unknown as Json), []);
    assert.deepEqual(toFolded(file), [...FOLDED].sort());
    const p = file.profiles[0]!;
    assert.equal(p.type, 'sampled');
    assert.equal(p.unit, 'none');
    assert.equal(p.startValue, 0);
    assert.equal(p.endValue, 430);
    assert.ok(p.weights.every((w) => w > 0), 'speedscope rejects non-positive weights');
    assert.equal(file.name, 'cpu.folded');
    assert.equal(file.exporter, 'ebpf-otel test');
    assert.equal(file.activeProfileIndex, 0);
    const names = file.shared.frames.map((f) => f.name);
    assert.equal(new Set(names).size, names.length, 'each frame once');
  });

  it('shares frames between profiles and keeps modules as file names', () => {
    const before = tree('p;main;a 1\np;main;b 2\n');
    const after = tree('p;main;a 5\np;main;c 1\n');
    const file = renderSpeedscope([{ name: 'before', tree: before }, { name: 'after', tree: after }], { activeProfileIndex: 1 });
    assert.deepEqual(validate(SCHEMA, JSON.parse(speedscopeJson(file)) as Json), []);
    assert.deepEqual(file.shared.frames.map((f) => f.name), ['p', 'main', 'a', 'b', 'c']);
    assert.deepEqual(toFolded(file, 0), ['p;main;a 1', 'p;main;b 2']);
    assert.deepEqual(toFolded(file, 1), ['p;main;a 5', 'p;main;c 1']);
    assert.equal(file.activeProfileIndex, 1);

    const profile = treeFromProfile({
      kind: 'offcpu',
      unit: 'nanoseconds',
      startTimeNs: 0n,
      endTimeNs: 1n,
      warnings: [],
      stacks: [{ pid: 1, tid: 1, comm: 'app', value: 2500, frames: [{ name: 'read', kind: 'user', module: '/lib/libc.so.6' }, { name: 'schedule', kind: 'kernel' }] }],
    });
    const f2 = renderSpeedscope([{ name: 'off', tree: profile }]);
    assert.deepEqual(validate(SCHEMA, JSON.parse(speedscopeJson(f2)) as Json), []);
    assert.deepEqual(f2.shared.frames, [{ name: 'app' }, { name: 'read', file: '/lib/libc.so.6' }, { name: 'schedule_[k]' }]);
    assert.equal(f2.profiles[0]!.unit, 'nanoseconds');
  });

  it('maps count names to speedscope units', () => {
    assert.equal(speedscopeUnit('samples'), 'none');
    assert.equal(speedscopeUnit('us'), 'microseconds');
    assert.equal(speedscopeUnit('ns'), 'nanoseconds');
    assert.equal(speedscopeUnit('MS'), 'milliseconds');
    assert.equal(speedscopeUnit('bytes'), 'bytes');
    assert.equal(speedscopeUnit('widgets'), 'none');
  });

  it('a differential tree still exports only real, positive weights', () => {
    const d = diffTrees(tree('p;gone 5\n'), tree('p;kept 3\n'));
    const file = renderSpeedscope([{ name: 'after', tree: d }]);
    assert.deepEqual(toFolded(file), ['p;kept 3']);
  });
});
