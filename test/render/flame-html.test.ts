// The flame page as text: self-contained, CSP-locked, names only as escaped data. What it does in
// a browser is tested in flame-browser.test.ts.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';

import { parseFolded } from '../../src/render/folded.js';
import { FlameTreeBuilder, diffTrees, treeFromFolded, type FlameTree } from '../../src/render/flame-tree.js';
import { escapeHtml, escapeJsonForScript, flameTreeJson, renderFlameHtml } from '../../src/render/flame-html.js';

function tree(text: string): FlameTree {
  const { records, errors } = parseFolded(text);
  assert.deepEqual(errors, []);
  return treeFromFolded(records);
}

interface PageNode {
  n: string;
  v: number;
  t?: string;
  m?: string;
  b?: number;
  c?: PageNode[];
}
interface PageData {
  countName: string;
  inverted: boolean;
  diff: { normalized: boolean; beforeTotal: number; maxDelta: number } | null;
  tree: PageNode;
}

const HOSTILE_IMG = '<img src=x onerror=alert(1)>';
const HOSTILE_SCRIPT = '</script><script>alert(2)</script>';
const FOLDED = [
  'burner;main;hot_three 300',
  'burner;main;hot_one 100',
  'burner;main;write;ksys_write_[k] 20',
  `app;${HOSTILE_IMG};${HOSTILE_SCRIPT};a & b <!-- c \u2028 d 5`,
].join('\n');

function dataBlock(html: string): string {
  const m = /<script type="application\/json" id="flame-data">([\s\S]*?)<\/script>/.exec(html);
  assert.ok(m, 'the page has its data block');
  return m[1]!;
}

function executableScripts(html: string): string[] {
  return [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1]!);
}

describe('renderFlameHtml', () => {
  const html = renderFlameHtml(tree(FOLDED), { title: `</title><script>alert(3)</script> & co`, subtitle: `from ${HOSTILE_IMG}` });

  it('is one self-contained document: no external script, style, image or link', () => {
    assert.match(html, /^<!DOCTYPE html>\n<html lang="en">/);
    const refs = [...html.matchAll(/<(?:script|link|img|iframe|embed|object|source|audio|video)\b[^>]*\b(?:src|href)=("[^"]*"|[^\s>]+)/gi)].map((m) => m[1]);
    assert.deepEqual(refs, ['"data:,"'], 'only the empty data: favicon');
    assert.equal(executableScripts(html).length, 3, 'd3, d3-flame-graph, the page script');
    assert.match(executableScripts(html)[0]!, /d3js\.org|"d3"|function\(t,n\)/, 'd3 is inlined');
    assert.match(executableScripts(html)[1]!, /flamegraph/, 'd3-flame-graph is inlined');
    assert.match(html, /\.d3-flame-graph rect\{/, "d3-flame-graph's CSS is inlined");
  });

  it('allows exactly its own scripts by hash and nothing from the network', () => {
    const m = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html);
    assert.ok(m);
    const csp = m[1]!.replace(/&#39;/g, "'");
    assert.match(csp, /default-src 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline'[^;]*script|script-src[^;]*unsafe/, 'no inline event handlers, no eval');
    const hashes = [...csp.matchAll(/'sha256-([^']+)'/g)].map((h) => h[1]);
    const expected = executableScripts(html).map((s) => createHash('sha256').update(s, 'utf8').digest('base64'));
    assert.deepEqual(hashes, expected);
  });

  it('embeds names only as JSON data, with <, >, &, U+2028 and U+2029 escaped', () => {
    const block = dataBlock(html);
    assert.doesNotMatch(block, /[<>&\u2028\u2029]/);
    const data = JSON.parse(block) as PageData;
    const app = data.tree.c!.find((n) => n.n === 'app')!;
    assert.equal(app.c![0]!.n, HOSTILE_IMG);
    assert.equal(app.c![0]!.c![0]!.n, HOSTILE_SCRIPT);
    assert.equal(app.c![0]!.c![0]!.c![0]!.n, 'a & b <!-- c \\u{2028} d', 'line separators are also made visible by the tree');
    assert.equal(html.split(HOSTILE_IMG).length, 1, 'the raw name appears nowhere in the page');
    assert.equal(html.split('<script>alert(').length, 1);
  });

  it('escapes the title and subtitle as HTML text', () => {
    assert.match(html, /<title>&lt;\/title&gt;&lt;script&gt;alert\(3\)&lt;\/script&gt; &amp; co<\/title>/);
    assert.match(html, /<h1 id="title">&lt;\/title&gt;&lt;script&gt;alert\(3\)&lt;\/script&gt; &amp; co<\/h1>/);
    assert.match(html, /<p id="subtitle">from &lt;img src=x onerror=alert\(1\)&gt; · <span id="total">/);
  });

  it('writes the tree as d3-flame-graph reads it: sorted, inclusive values, kind codes', () => {
    const data = JSON.parse(dataBlock(html)) as PageData;
    assert.equal(data.countName, 'samples');
    assert.equal(data.inverted, false);
    assert.equal(data.diff, null);
    assert.equal(data.tree.n, 'all');
    assert.equal(data.tree.v, 425);
    const main = data.tree.c!.find((n) => n.n === 'burner')!.c![0]!;
    assert.deepEqual(main.c!.map((n) => [n.n, n.v]), [
      ['hot_one', 100],
      ['hot_three', 300],
      ['write', 20],
    ]);
    assert.deepEqual(main.c![2]!.c, [{ n: 'ksys_write', v: 20, t: 'k' }]);
  });

  it('starts inverted when asked and carries the diff summary of a differential tree', () => {
    const d = diffTrees(tree('p;a 10\np;gone 5\n'), tree('p;a 30\n'), { normalize: true });
    const data = JSON.parse(dataBlock(renderFlameHtml(d, { title: 't', inverted: true }))) as PageData;
    assert.equal(data.inverted, true);
    assert.deepEqual(data.diff, { normalized: true, beforeTotal: 15, maxDelta: 10 });
    const p = data.tree.c![0]!;
    assert.deepEqual(p.c, [{ n: 'a', v: 30, b: 20 }], 'before normalised to 30/15, and no zero-width frames');
  });
});

describe('flameTreeJson', () => {
  it('handles stacks far deeper than the call stack', () => {
    const b = new FlameTreeBuilder();
    const frames = Array.from({ length: 50_000 }, (_, i) => ({ name: `f${i}`, kind: 'user' as const }));
    b.add(frames, 1);
    const json = flameTreeJson(b.build());
    assert.ok(json.startsWith('{"n":"all","v":1,"t":"m","c":[{"n":"f0","v":1,"c":[{"n":"f1"'));
    assert.ok(json.endsWith('{"n":"f49999","v":1}' + ']}'.repeat(50_000)));
  });
});

describe('escaping helpers', () => {
  it('escapeJsonForScript keeps the JSON value and removes what a script element reacts to', () => {
    const value = { s: '</script><!-- & \u2028\u2029 >' };
    const text = escapeJsonForScript(JSON.stringify(value));
    assert.equal(text, '{"s":"\\u003c/script\\u003e\\u003c!-- \\u0026 \\u2028\\u2029 \\u003e"}');
    assert.deepEqual(JSON.parse(text), value);
  });

  it('escapeHtml escapes the five HTML specials', () => {
    assert.equal(escapeHtml(`<a href="x" title='y'>&</a>`), '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;');
  });
});
