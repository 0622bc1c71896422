// The flame graph as one self-contained HTML page: d3, d3-flame-graph, their CSS and our page
// script inlined; the tree embedded as JSON data. Nothing is fetched: the page works from
// file://, and its Content-Security-Policy (default-src 'none', scripts allowed only by the
// SHA-256 of the inline scripts) forbids any request and any inline event handler, as a second
// wall behind the escaping.
//
// Escaping, wherever a name lands:
//   - in the JSON data block: `<`, `>`, `&`, U+2028 and U+2029 become \uXXXX, so no `</script>`
//     or `<!--` can end or confuse the block, and the text is still the same JSON;
//   - in HTML text (title, subtitle): `&`, `<`, `>`, `"`, `'` become entities;
//   - in the page: only textContent / setAttribute / d3 .text() (see flame-page.ts).

import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { packageRoot } from '../util/paths.js';
import type { FlameNode, FlameTree } from './flame-tree.js';
import { sortedChildren } from './flame-tree.js';
import { FLAME_PAGE_CSS, FLAME_PAGE_SCRIPT } from './flame-page.js';

export interface FlameHtmlOptions {
  /** Page and graph title. */
  title: string;
  /** One line under the title: what was profiled, when, how. */
  subtitle?: string;
  /** Start as an icicle graph (root at the top). Default: flame (root at the bottom). */
  inverted?: boolean;
}

export interface FlameAssets {
  d3: string;
  flamegraph: string;
  css: string;
}

/** Directory of an installed package, found the way Node finds it from our package root (hoisting included). */
function packageDir(name: string): string {
  const require = createRequire(join(packageRoot, 'package.json'));
  let dir = dirname(require.resolve(name));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === name) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`cannot find the ${name} package directory`);
    dir = parent;
  }
}

let assets: FlameAssets | undefined;

/** d3, d3-flame-graph and its CSS, read once from the installed packages. */
export function flameAssets(): FlameAssets {
  if (!assets) {
    const d3 = packageDir('d3');
    const fg = packageDir('d3-flame-graph');
    assets = {
      d3: readFileSync(join(d3, 'dist', 'd3.min.js'), 'utf8'),
      flamegraph: readFileSync(join(fg, 'dist', 'd3-flamegraph.umd.min.js'), 'utf8'),
      css: readFileSync(join(fg, 'dist', 'd3-flamegraph.css'), 'utf8'),
    };
  }
  return assets;
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text made safe for HTML element content and quoted attribute values. */
export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!);
}

/** JSON text made safe inside a <script> element: `<`, `>`, `&`, U+2028, U+2029 as \uXXXX. */
export function escapeJsonForScript(json: string): string {
  return json.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * Script source made safe to inline: `</script` and `<!--` cannot appear in a classic script
 * element's text. Both only occur inside strings, regexps or comments in real code, where `<\/`
 * and `<\!` mean the same.
 */
function inlineScriptText(js: string): string {
  return js.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

/** Style text made safe to inline (`</style` cannot appear). */
function inlineStyleText(css: string): string {
  return css.replace(/<\/(style)/gi, '<\\/$1');
}

function sha256(text: string): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

function round2(v: number): number {
  return Math.round(v * 100) / 100;
}

const KIND_CODE: Record<FlameNode['kind'], string | undefined> = { user: undefined, kernel: 'k', jit: 'j', marker: 'm' };

/**
 * The tree as the JSON d3-flame-graph reads (`n` name, `v` inclusive value, `c` children) plus
 * ours (`t` kind code when not user, `m` module, `b` before-value in a differential tree).
 * Children are sorted by name; nodes with no width (value 0) are left out. Built iteratively, so
 * a deep stack cannot overflow the call stack.
 */
export function flameTreeJson(tree: FlameTree): string {
  const diff = tree.diff !== undefined;
  const out: string[] = [];
  const open = (n: FlameNode): FlameNode[] => {
    out.push('{"n":', JSON.stringify(n.name), ',"v":', String(n.value));
    const kind = KIND_CODE[n.kind];
    if (kind !== undefined) out.push(',"t":"', kind, '"');
    if (n.module !== undefined) out.push(',"m":', JSON.stringify(n.module));
    if (diff) out.push(',"b":', String(round2(n.before ?? 0)));
    const kids = sortedChildren(n).filter((c) => c.value > 0);
    if (kids.length > 0) out.push(',"c":[');
    else out.push('}');
    return kids;
  };
  const stack: Array<{ kids: FlameNode[]; next: number }> = [];
  const rootKids = open(tree.root);
  if (rootKids.length > 0) stack.push({ kids: rootKids, next: 0 });
  while (stack.length > 0) {
    const top = stack[stack.length - 1]!;
    if (top.next === top.kids.length) {
      out.push(']}');
      stack.pop();
      continue;
    }
    if (top.next > 0) out.push(',');
    const kids = open(top.kids[top.next++]!);
    if (kids.length > 0) stack.push({ kids, next: 0 });
  }
  return out.join('');
}

interface PageData {
  countName: string;
  inverted: boolean;
  diff: { normalized: boolean; beforeTotal: number; maxDelta: number } | null;
}

const LEGEND_KINDS = `<span><span class="swatch" style="background:rgb(228,90,90)"></span>user</span>
<span><span class="swatch" style="background:rgb(223,123,0)"></span>kernel</span>
<span><span class="swatch" style="background:rgb(80,228,80)"></span>JIT</span>
<span><span class="swatch" style="background:rgb(190,190,190)"></span>marker</span>
<span><span class="swatch" style="background:#e600e6"></span>search match</span>`;

const LEGEND_DIFF = `<span><span class="swatch" style="background:rgb(255,40,40)"></span>grew (after &gt; before)</span>
<span><span class="swatch" style="background:rgb(40,40,255)"></span>shrank</span>
<span><span class="swatch" style="background:rgb(235,235,235)"></span>unchanged</span>
<span><span class="swatch" style="background:#e600e6"></span>search match</span>
<span>widths: after; colour intensity: change relative to the largest change</span>`;

/** The whole page. */
export function renderFlameHtml(tree: FlameTree, opts: FlameHtmlOptions): string {
  const a = flameAssets();
  const data: PageData = {
    countName: tree.countName,
    inverted: Boolean(opts.inverted),
    diff: tree.diff ? { normalized: tree.diff.normalized, beforeTotal: round2(tree.diff.beforeTotal), maxDelta: tree.diff.maxDelta } : null,
  };
  const head = JSON.stringify(data);
  const json = escapeJsonForScript(`${head.slice(0, -1)},"tree":${flameTreeJson(tree)}}`);
  const scripts = [inlineScriptText(a.d3), inlineScriptText(a.flamegraph), inlineScriptText(FLAME_PAGE_SCRIPT)];
  const csp = [
    "default-src 'none'",
    `script-src ${scripts.map(sha256).join(' ')}`,
    // d3-flame-graph injects its stylesheet with a <style> element; the legend uses style attributes.
    "style-src 'unsafe-inline'",
    'img-src data:',
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
  const title = escapeHtml(opts.title);
  const subtitle = opts.subtitle !== undefined && opts.subtitle !== '' ? `${escapeHtml(opts.subtitle)} · ` : '';
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="ebpf-otel flame">
<meta name="referrer" content="no-referrer">
<title>${title}</title>
<link rel="icon" href="data:,">
<style>${inlineStyleText(a.css)}</style>
<style>${inlineStyleText(FLAME_PAGE_CSS)}</style>
</head>
<body>
<header>
<h1 id="title">${title}</h1>
<p id="subtitle">${subtitle}<span id="total"></span></p>
<div class="controls">
<input id="search" type="search" placeholder="Search (regular expression)" title="Regular expression, any case; plain text if it is not a valid one. Ctrl-F focuses, Esc clears" aria-label="Search frames" autocomplete="off" spellcheck="false">
<button id="clear-search" type="button">Clear</button>
<span id="match" role="status"></span>
<button id="reset-zoom" type="button" title="Click a frame to zoom into it; Esc also resets">Reset zoom</button>
<span class="orientation" role="group" aria-label="Orientation"><button id="mode-flame" type="button">Flame</button><button id="mode-icicle" type="button">Icicle</button></span>
</div>
<div class="legend">${tree.diff ? LEGEND_DIFF : LEGEND_KINDS}</div>
</header>
<main><div id="chart"></div><noscript><p>This flame graph needs JavaScript.</p></noscript></main>
<footer id="details" aria-live="polite"></footer>
<script type="application/json" id="flame-data">${json}</script>
<script>${scripts[0]}</script>
<script>${scripts[1]}</script>
<script>${scripts[2]}</script>
</body>
</html>
`;
}
