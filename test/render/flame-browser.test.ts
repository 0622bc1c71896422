// Everything that needs a real browser: the flame page opened from file:// in Debian's chromium
// (driven by playwright-core), and our speedscope file opened in the speedscope app that the
// speedscope package ships. Every page is watched for requests, console errors and script errors.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

import { parseFolded } from '../../src/render/folded.js';
import { diffTrees, treeFromFolded, type FlameTree } from '../../src/render/flame-tree.js';
import { renderFlameHtml, type FlameHtmlOptions } from '../../src/render/flame-html.js';
import { renderSpeedscope, speedscopeJson } from '../../src/render/speedscope.js';

// The few DOM shapes the in-page callbacks use (the project compiles without the DOM library).
interface PageElement {
  getAttribute(name: string): string | null;
  hasAttribute(name: string): boolean;
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement> & { length: number };
  getBoundingClientRect(): { x: number; y: number; width: number; height: number };
  dispatchEvent(event: unknown): boolean;
  textContent: string | null;
  style: { display: string };
}
declare const document: {
  querySelector(selector: string): PageElement | null;
  querySelectorAll(selector: string): Iterable<PageElement> & { length: number };
  title: string;
  body: PageElement;
};
declare const window: Record<string, unknown>;
declare const MouseEvent: new (type: string, init: { bubbles: boolean }) => unknown;

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

let context: BrowserContext;
let userDataDir: string;
const work = mkdtempSync(join(tmpdir(), 'ebpf-otel-flame-'));

before(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no chromium at ${CHROMIUM}: install Debian's chromium package or set CHROMIUM_PATH`);
  userDataDir = mkdtempSync(join(tmpdir(), 'ebpf-otel-chromium-'));
  context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    viewport: { width: 1200, height: 800 },
  });
});

after(async () => {
  await context?.close();
  rmSync(userDataDir, { recursive: true, force: true });
  rmSync(work, { recursive: true, force: true });
});

interface Opened {
  page: Page;
  /** Requests other than the page's own files, console errors, script errors, dialogs. */
  problems: string[];
}

/** Open a file:// URL and record anything that must not happen. `allowFiles`: other file:// loads that are fine. */
async function open(file: string, allowFiles = false): Promise<Opened> {
  const page = await context.newPage();
  const url = pathToFileURL(file).href;
  const problems: string[] = [];
  page.on('request', (r) => {
    const u = r.url();
    if (u === url || (allowFiles && u.startsWith('file://'))) return;
    problems.push(`request: ${u}`);
  });
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('dialog', (d) => {
    problems.push(`dialog: ${d.message()}`);
    void d.dismiss();
  });
  await page.goto(url);
  return { page, problems };
}

function tree(text: string): FlameTree {
  const { records, errors } = parseFolded(text);
  assert.deepEqual(errors, []);
  return treeFromFolded(records);
}

let pageNo = 0;
async function openFlame(t: FlameTree, opts: FlameHtmlOptions): Promise<Opened> {
  const file = join(work, `page-${++pageNo}.html`);
  writeFileSync(file, renderFlameHtml(t, opts));
  const opened = await open(file);
  try {
    await opened.page.waitForSelector('body[data-ready="true"]', { state: 'attached', timeout: 10_000 });
  } catch (err) {
    await opened.page.close();
    throw new Error(`the page did not render: ${opened.problems.join('; ') || String(err)}`);
  }
  return opened;
}

/** Number of frame groups (<g name=...> with a <rect>) with exactly this name. */
function frameCount(page: Page, name: string): Promise<number> {
  return page.evaluate((n) => [...document.querySelectorAll('svg g')].filter((g) => g.getAttribute('name') === n && g.querySelector('rect')).length, name);
}

/** Fill colour of the first frame with this name. */
function fillOf(page: Page, name: string): Promise<string | null> {
  return page.evaluate((n) => {
    const g = [...document.querySelectorAll('svg g')].find((x) => x.getAttribute('name') === n);
    return g?.querySelector('rect')?.getAttribute('fill') ?? null;
  }, name);
}

function rgb(color: string | null): [number, number, number] {
  const m = /^rgb\((\d+),\s*(\d+),\s*(\d+)\)$/.exec(color ?? '');
  assert.ok(m, `not an rgb() colour: ${color}`);
  return [Number(m[1]), Number(m[2]), Number(m[3])];
}

/** Wait until the frame's label shows this text (labels appear after the entry transition). */
async function labelShows(page: Page, name: string): Promise<void> {
  await page.waitForFunction(
    (n) => [...document.querySelectorAll('svg g')].some((g) => g.getAttribute('name') === n && g.querySelector('foreignObject div')?.textContent === n),
    name,
  );
}

async function hover(page: Page, name: string): Promise<void> {
  const box = await page.evaluate((n) => {
    const g = [...document.querySelectorAll('svg g')].find((x) => x.getAttribute('name') === n);
    const r = g?.querySelector('rect')?.getBoundingClientRect();
    return r ? { x: r.x + Math.min(20, r.width / 2), y: r.y + r.height / 2 } : null;
  }, name);
  assert.ok(box, `frame ${name} is on the page`);
  await page.mouse.move(box.x, box.y);
}

const FOLDED = [
  'burner;_start;main;hot_three 300',
  'burner;_start;main;hot_one 100',
  'burner;_start;main;write;entry_SYSCALL_64_[k];ksys_write_[k] 20',
  'burner;_start;helper;main 10', // a second frame named main, elsewhere
  'node;LazyCompile:*fib_[j];uv_run 7',
  'node;std::vector<int>::push_back(int) 3',
].join('\n');

describe('the flame page in chromium', () => {
  it('renders every frame once per distinct path, labelled and coloured by kind', async () => {
    const { page, problems } = await openFlame(tree(FOLDED), { title: 'cpu', subtitle: 'burner' });
    try {
      await labelShows(page, 'hot_three');
      assert.equal(await frameCount(page, 'all'), 1);
      assert.equal(await frameCount(page, 'burner'), 1);
      assert.equal(await frameCount(page, 'main'), 2, 'main under _start and under helper');
      assert.equal(await frameCount(page, 'hot_three'), 1);
      assert.equal(await frameCount(page, 'ksys_write'), 1, 'the _[k] suffix is shown as colour, not text');
      assert.equal(await frameCount(page, 'ksys_write_[k]'), 0);
      assert.equal(await frameCount(page, 'nonexistent'), 0);
      assert.equal(await page.evaluate(() => document.querySelectorAll('svg g').length), 15, 'all + 14 frames');

      const [ur, ug, ub] = rgb(await fillOf(page, 'hot_three'));
      const [kr, kg, kb] = rgb(await fillOf(page, 'ksys_write'));
      const [jr, jg, jb] = rgb(await fillOf(page, 'LazyCompile:*fib'));
      assert.ok(ur > ug && ug === ub, `user frames are red: ${[ur, ug, ub]}`);
      assert.ok(kr > kg && kg > kb && kb === 0, `kernel frames are orange: ${[kr, kg, kb]}`);
      assert.ok(jg > jr && jr === jb, `JIT frames are green: ${[jr, jg, jb]}`);

      assert.equal(await page.textContent('h1'), 'cpu');
      assert.equal(await page.textContent('#total'), 'Total: 440 samples');
      await hover(page, 'hot_three');
      await page.waitForFunction(() => document.querySelector('.d3-flame-graph-tip')?.style.display === 'block');
      const tip = await page.textContent('.d3-flame-graph-tip');
      assert.match(tip ?? '', /hot_three/);
      assert.match(tip ?? '', /300 samples \(68\.18% of all\)/, 'tooltip has samples and share');
      assert.match((await page.textContent('#details')) ?? '', /hot_three .*300 samples/);
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
    }
  });

  it('search highlights the matching frames and shows their share', async () => {
    const { page, problems } = await openFlame(tree(FOLDED), { title: 'search' });
    try {
      await page.fill('#search', 'HOT_');
      await page.waitForSelector('body[data-search-matches]');
      assert.equal(await page.textContent('#match'), 'Matched: 90.91% (400 of 440 samples, 2 frames)');
      const highlighted = await page.evaluate(() =>
        [...document.querySelectorAll('svg g')].filter((g) => g.querySelector('rect')?.getAttribute('fill') === '#e600e6').map((g) => g.getAttribute('name')).sort(),
      );
      assert.deepEqual(highlighted, ['hot_one', 'hot_three']);

      // Nested matches count once: `main` (2 paths) covers everything below it.
      await page.fill('#search', '^(main|hot_three)$');
      await page.waitForFunction(() => document.querySelector('#match')?.textContent?.includes('3 frames'));
      assert.equal(await page.textContent('#match'), 'Matched: 97.73% (430 of 440 samples, 3 frames)');

      // Not a valid regular expression: matched as plain text, no script error.
      await page.fill('#search', 'push_back(');
      await page.waitForFunction(() => document.querySelector('#match')?.textContent?.includes('1 frame)'));
      assert.equal(await page.textContent('#match'), 'Matched: 0.68% (3 of 440 samples, 1 frame)');

      await page.fill('#search', 'zzz');
      await page.waitForFunction(() => document.querySelector('#match')?.textContent === 'No match');
      await page.click('#clear-search');
      await page.waitForFunction(() => !document.body.hasAttribute('data-search-matches'));
      assert.equal(await page.textContent('#match'), '');
      const stillPink = await page.evaluate(() => document.querySelectorAll('rect[fill="#e600e6"]').length);
      assert.equal(stillPink, 0);
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
    }
  });

  it('zooms into a frame on click, resets, and toggles icicle and flame', async () => {
    const { page, problems } = await openFlame(tree(FOLDED), { title: 'zoom' });
    try {
      await labelShows(page, 'write');
      const width = (n: string) =>
        page.evaluate((name) => {
          const g = [...document.querySelectorAll('svg g')].find((x) => x.getAttribute('name') === name);
          return Number(g?.querySelector('rect')?.getAttribute('width') ?? -1);
        }, n);
      const full = await page.evaluate(() => Number(document.querySelector('svg')?.getAttribute('width')));
      assert.ok(full > 500);
      await page.waitForFunction((w) => {
        const g = [...document.querySelectorAll('svg g')].find((x) => x.getAttribute('name') === 'all');
        return Number(g?.querySelector('rect')?.getAttribute('width')) === w;
      }, full);
      assert.ok((await width('write')) < full / 10);
      await page.evaluate(() => {
        const g = [...document.querySelectorAll('svg g')].find((x) => x.getAttribute('name') === 'write');
        g?.dispatchEvent(new MouseEvent('click', { bubbles: true }));
      });
      await page.waitForFunction((w) => {
        const g = [...document.querySelectorAll('svg g')].find((x) => x.getAttribute('name') === 'ksys_write');
        return Math.abs(Number(g?.querySelector('rect')?.getAttribute('width')) - w) < 0.5;
      }, full);
      assert.equal(await frameCount(page, 'hot_three'), 0, 'siblings of the zoomed frame are gone');
      await page.click('#reset-zoom');
      await page.waitForFunction(() => [...document.querySelectorAll('svg g')].some((g) => g.getAttribute('name') === 'hot_three'));
      await page.waitForFunction((w) => {
        const g = [...document.querySelectorAll('svg g')].find((x) => x.getAttribute('name') === 'ksys_write');
        return Number(g?.querySelector('rect')?.getAttribute('width')) < w / 10;
      }, full);

      const rootY = () =>
        page.evaluate(() => {
          const g = [...document.querySelectorAll('svg g')].find((x) => x.getAttribute('name') === 'all');
          const m = /translate\(([-\d.e]+),\s*([-\d.e]+)\)/.exec(g?.getAttribute('transform') ?? '');
          return m ? Number(m[2]) : Number.NaN;
        });
      assert.equal(await page.getAttribute('#mode-flame', 'aria-pressed'), 'true');
      assert.ok((await rootY()) > 50, 'flame: the root is at the bottom');
      await page.click('#mode-icicle');
      assert.equal(await page.getAttribute('#mode-icicle', 'aria-pressed'), 'true');
      await page.waitForFunction(() => {
        const g = [...document.querySelectorAll('svg g')].find((x) => x.getAttribute('name') === 'all');
        return /translate\([-\d.e]+,\s*0\)/.test(g?.getAttribute('transform') ?? '');
      });
      await page.click('#mode-flame');
      await page.waitForFunction(() => document.body.getAttribute('data-orientation') === 'flame');
      await page.waitForFunction(() => {
        const g = [...document.querySelectorAll('svg g')].find((x) => x.getAttribute('name') === 'all');
        return !/translate\([-\d.e]+,\s*0\)/.test(g?.getAttribute('transform') ?? '');
      });
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
    }
  });

  it('starts as an icicle when asked', async () => {
    const { page, problems } = await openFlame(tree(FOLDED), { title: 'icicle', inverted: true });
    try {
      assert.equal(await page.getAttribute('#mode-icicle', 'aria-pressed'), 'true');
      const transform = await page.evaluate(() => [...document.querySelectorAll('svg g')].find((x) => x.getAttribute('name') === 'all')?.getAttribute('transform'));
      assert.match(transform ?? '', /translate\([-\d.e]+,\s*0\)/);
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
    }
  });

  it('shows hostile frame names and titles as text and runs none of them', async () => {
    const img = '<img src=x onerror="window.__pwned=1">';
    const script = '</script><script>window.__pwned2=1</script>';
    const svg = '<svg onload="window.__pwned5=1"></svg>';
    const title = '</title><script>window.__pwned3=1</script><img src=x onerror="window.__pwned4=1">';
    const t = tree([`app;${img};${script} 600`, `app;${svg} 400`].join('\n'));
    const { page, problems } = await openFlame(t, { title, subtitle: img });
    try {
      await labelShows(page, img);
      await labelShows(page, script);
      await labelShows(page, svg);
      const state = await page.evaluate(() => {
        return {
          flags: ['__pwned', '__pwned2', '__pwned3', '__pwned4', '__pwned5'].filter((k) => window[k] !== undefined),
          imgs: document.querySelectorAll('img').length,
          scripts: document.querySelectorAll('script').length,
          svgs: document.querySelectorAll('svg').length,
          title: document.title,
          h1: document.querySelector('h1')?.textContent,
          subtitle: document.querySelector('#subtitle')?.textContent,
        };
      });
      assert.deepEqual(state.flags, [], 'no hostile payload ran');
      assert.equal(state.imgs, 0, 'no <img> element was created');
      assert.equal(state.scripts, 4, 'only our own script elements');
      assert.equal(state.svgs, 1, 'only the flame graph svg');
      assert.equal(state.title, title);
      assert.equal(state.h1, title);
      assert.equal(state.subtitle, `${img} · Total: 1,000 samples`);

      await hover(page, img);
      await page.waitForFunction(() => document.querySelector('.d3-flame-graph-tip')?.style.display === 'block');
      const tip = await page.evaluate(() => {
        const el = document.querySelector('.d3-flame-graph-tip')!;
        return { text: el.textContent ?? '', elements: el.querySelectorAll('*').length };
      });
      assert.ok(tip.text.startsWith(img), `tooltip shows the name as text: ${tip.text}`);
      assert.equal(tip.elements, 0, 'the tooltip holds text only');
      assert.equal(await page.textContent('#details').then((s) => s?.startsWith(img)), true);

      await page.fill('#search', 'onerror');
      await page.waitForSelector('body[data-search-matches="1"]');
      assert.deepEqual(problems, [], 'no request (the img src), no CSP violation, no error');
    } finally {
      await page.close();
    }
  });

  it('colours a differential graph by growth and shrinkage', async () => {
    const before = tree('p;main;grows 100\np;main;shrinks 100\np;main;same 50\n');
    const afterTree = tree('p;main;grows 300\np;main;shrinks 20\np;main;same 50\n');
    const { page, problems } = await openFlame(diffTrees(before, afterTree), { title: 'diff' });
    try {
      await labelShows(page, 'grows');
      const [gr, gg, gb] = rgb(await fillOf(page, 'grows'));
      const [sr, sg, sb] = rgb(await fillOf(page, 'shrinks'));
      const [nr, ng, nb] = rgb(await fillOf(page, 'same'));
      assert.ok(gr === 255 && gg === gb && gg < 50, `grew by the most: strong red, got ${[gr, gg, gb]}`);
      assert.ok(sb === 255 && sr === sg && sr > 50 && sr < 200, `shrank by less: lighter blue, got ${[sr, sg, sb]}`);
      assert.ok(nr === ng && ng === nb, `unchanged: grey, got ${[nr, ng, nb]}`);
      await hover(page, 'shrinks');
      await page.waitForFunction(() => document.querySelector('.d3-flame-graph-tip')?.style.display === 'block');
      assert.match((await page.textContent('.d3-flame-graph-tip')) ?? '', /before: 100 samples, change: -80 samples \(-80\.00%\)/);
      assert.match((await page.textContent('#total')) ?? '', /370 samples after, 250 samples before/);
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
    }
  });
});

describe('our speedscope file in the speedscope app', () => {
  it('imports unchanged and shows the same frames and weights', async () => {
    const release = join(dirname(createRequire(import.meta.url).resolve('speedscope/package.json')), 'dist', 'release');
    const file = join(work, 'cpu.speedscope.json');
    writeFileSync(file, speedscopeJson(renderSpeedscope([{ name: 'cpu profile', tree: tree(FOLDED) }])));
    const { page, problems } = await open(join(release, 'index.html'), true);
    try {
      await page.waitForSelector('input[type=file]', { state: 'attached' });
      await page.setInputFiles('input[type=file]', file);
      await page.waitForFunction(() => document.title === 'cpu profile - speedscope');
      await page.getByText('Sandwich').click();
      await page.waitForSelector('tr td');
      const rows = await page.evaluate(() =>
        [...document.querySelectorAll('tr')]
          .map((tr) => [...tr.querySelectorAll('td')].map((td) => (td.textContent ?? '').trim()))
          .filter((cells) => cells.length === 3)
          .map(([total, self, name]) => ({ name, total: total!.split(' ')[0], self: self!.split(' ')[0] })),
      );
      const byName = new Map(rows.map((r) => [r.name, r]));
      assert.deepEqual(byName.get('hot_three'), { name: 'hot_three', total: '300', self: '300' });
      assert.deepEqual(byName.get('main'), { name: 'main', total: '430', self: '10' }, 'both main frames, recursion-free');
      assert.deepEqual(byName.get('ksys_write_[k]'), { name: 'ksys_write_[k]', total: '20', self: '20' });
      assert.deepEqual(byName.get('burner'), { name: 'burner', total: '430', self: '0' });
      assert.equal(rows.length, 13, 'one row per distinct frame');
      assert.deepEqual(problems, []);
    } finally {
      await page.close();
    }
  });
});
