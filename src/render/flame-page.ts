// The browser side of the flame graph page: its stylesheet and its script, as text that
// flame-html.ts inlines. The script reads the tree from <script type="application/json"
// id="flame-data"> and drives d3-flame-graph. Names reach the DOM only through textContent,
// setAttribute and d3's .text()/.attr() (never innerHTML/.html()), so a frame called
// `<img src=x onerror=...>` is text. Plain ES2017, no template literals, no `</`.

export const FLAME_PAGE_CSS = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; font: 13px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; color: #222; background: #fff; }
header { position: sticky; top: 0; z-index: 5; background: #fff; padding: 8px 12px 6px; border-bottom: 1px solid #ddd; }
h1 { font-size: 17px; margin: 0; overflow-wrap: anywhere; }
#subtitle { margin: 2px 0 6px; color: #555; overflow-wrap: anywhere; }
.controls { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
#search { width: 24em; max-width: 100%; padding: 3px 6px; font: inherit; }
#match { font-variant-numeric: tabular-nums; color: #7a007a; }
button { font: inherit; padding: 2px 10px; border: 1px solid #999; background: #f4f4f4; border-radius: 3px; cursor: pointer; }
button:hover { background: #e8e8e8; }
.orientation button[aria-pressed="true"] { background: #444; border-color: #444; color: #fff; }
.orientation button:first-child { border-radius: 3px 0 0 3px; }
.orientation button:last-child { border-radius: 0 3px 3px 0; margin-left: -1px; }
.legend { display: flex; flex-wrap: wrap; gap: 14px; margin-top: 6px; color: #444; }
.swatch { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -2px; border: 1px solid #888; }
main { padding: 8px 12px 40px; }
#chart { width: 100%; }
#details { position: fixed; left: 0; right: 0; bottom: 0; min-height: 1.9em; padding: 4px 12px; background: #f6f6f6;
  border-top: 1px solid #ddd; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; font-family: ui-monospace, Menlo, monospace; }
.d3-flame-graph-label { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: 11px; }
.d3-flame-graph-tip { white-space: pre-line; max-width: 60em; overflow-wrap: anywhere; font: 12px/1.45 ui-monospace, Menlo, monospace; }
noscript p { padding: 12px; }
`;

export const FLAME_PAGE_SCRIPT = `
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('flame-data').textContent);
  var total = data.tree.v;
  var countName = data.countName;
  var diff = data.diff;
  var HIGHLIGHT = '#e600e6';
  var TIME_SCALE = { ns: 1, nsecs: 1, nanoseconds: 1, us: 1e3, usecs: 1e3, microseconds: 1e3,
    ms: 1e6, msecs: 1e6, milliseconds: 1e6, s: 1e9, secs: 1e9, seconds: 1e9 };
  var KIND = { u: 'user', k: 'kernel', j: 'JIT', m: 'marker' };

  function byId(id) { return document.getElementById(id); }
  function fmtNumber(v) {
    return v.toLocaleString('en-US', { maximumFractionDigits: Number.isInteger(v) ? 0 : 2 });
  }
  function sig3(v) { var a = Math.abs(v); return a >= 100 ? String(Math.round(v)) : a >= 10 ? v.toFixed(1) : v.toFixed(2); }
  function fmtDuration(ns) {
    var a = Math.abs(ns);
    if (a < 999.5) return Math.round(ns) + ' ns';
    if (a < 999.5e3) return sig3(ns / 1e3) + ' us';
    if (a < 999.5e6) return sig3(ns / 1e6) + ' ms';
    return sig3(ns / 1e9) + ' s';
  }
  function fmtValue(v) {
    var scale = TIME_SCALE[String(countName).toLowerCase()];
    if (scale) return fmtDuration(v * scale);
    return fmtNumber(v) + ' ' + countName;
  }
  function fmtSigned(v) { return (v > 0 ? '+' : v < 0 ? '-' : '') + fmtValue(Math.abs(v)); }
  function pct(v, of) { return (of > 0 ? (100 * v / of) : 0).toFixed(2) + '%'; }
  function kindOf(d) { return d.data.t || 'u'; }
  function selfOf(d) {
    var s = d.data.v, c = d.data.c, i;
    if (c) for (i = 0; i < c.length; i++) s -= c[i].v;
    return s;
  }

  // flamegraph.pl's name hash: the same function keeps its shade across graphs.
  function hash(name) {
    var v = 0, max = 0, w = 1, i, n = Math.min(name.length, 8);
    for (i = 0; i < n; i++) { v += w * (name.charCodeAt(i) % 10); max += w * 9; w *= 0.7; }
    return max > 0 ? v / max : 0;
  }
  function kindColor(kind, name) {
    var v = hash(name), r, g, b;
    if (kind === 'k') { r = 190 + Math.round(65 * v); g = 90 + Math.round(65 * v); b = 0; }
    else if (kind === 'j') { r = 50 + Math.round(60 * v); g = 200 + Math.round(55 * v); b = r; }
    else if (kind === 'm') { r = g = b = 165 + Math.round(50 * v); }
    else { r = 200 + Math.round(55 * v); g = 50 + Math.round(80 * v); b = g; }
    return 'rgb(' + r + ',' + g + ',' + b + ')';
  }
  function diffColor(d) {
    var delta = d.data.v - (d.data.b || 0);
    var x = diff.maxDelta > 0 ? Math.min(1, Math.abs(delta) / diff.maxDelta) : 0;
    var c = Math.round(215 * (1 - x));
    if (delta > 0) return 'rgb(255,' + c + ',' + c + ')';
    if (delta < 0) return 'rgb(' + c + ',' + c + ',255)';
    return 'rgb(235,235,235)';
  }

  function describe(d) {
    var lines = [d.data.n];
    var kind = KIND[kindOf(d)];
    if (d.depth > 0) lines.push(kind + ' frame' + (d.data.m ? ' in ' + d.data.m : ''));
    lines.push(fmtValue(d.data.v) + ' (' + pct(d.data.v, total) + ' of all)');
    var self = selfOf(d);
    if (self > 0) lines.push('self: ' + fmtValue(self) + ' (' + pct(self, total) + ')');
    if (diff) {
      var before = d.data.b || 0, delta = d.data.v - before;
      lines.push('before: ' + fmtValue(before) + (diff.normalized ? ' (normalised)' : '') +
        ', change: ' + fmtSigned(delta) + (before > 0 ? ' (' + (delta >= 0 ? '+' : '') + pct(delta, before) + ')' : ' (new)'));
    }
    return lines;
  }

  var chartEl = byId('chart');
  var detailsEl = byId('details');
  var matchEl = byId('match');
  var searchEl = byId('search');
  var inverted = Boolean(data.inverted);

  var tip = flamegraph.tooltip.defaultFlamegraphTooltip().text(function (d) { return describe(d).join('\\n'); });
  var chart = flamegraph.default()
    .width(chartEl.clientWidth || 960)
    .cellHeight(18)
    .transitionDuration(400)
    .minFrameSize(0.5)
    .sort(false)
    .selfValue(false)
    .inverted(inverted)
    .tooltip(tip)
    .setColorMapper(function (d) {
      if (d.highlight) return HIGHLIGHT;
      return diff ? diffColor(d) : kindColor(kindOf(d), d.data.n);
    })
    .setLabelHandler(function (d) { return describe(d).join('  |  '); })
    .setDetailsHandler(function (text) { detailsEl.textContent = text || ''; })
    .setSearchMatch(function (d, term) {
      if (!term) return false;
      var name = d.data.n;
      if (searchRe) return searchRe.test(name);
      return name.toLowerCase().indexOf(term.toLowerCase()) >= 0;
    })
    .setSearchHandler(function (results) {
      var sum = 0, i, p, covered;
      for (i = 0; i < results.length; i++) {
        covered = false;
        for (p = results[i].parent; p; p = p.parent) if (p.highlight) { covered = true; break; }
        if (!covered) sum += results[i].data.v;
      }
      matchEl.textContent = results.length === 0 ? 'No match' :
        'Matched: ' + pct(sum, total) + ' (' + (TIME_SCALE[String(countName).toLowerCase()] ? fmtValue(sum) : fmtNumber(sum)) +
        ' of ' + fmtValue(total) + ', ' + results.length + (results.length === 1 ? ' frame)' : ' frames)');
      document.body.setAttribute('data-search-matches', String(results.length));
    });

  var searchRe = null;
  function runSearch() {
    var term = searchEl.value;
    if (!term) {
      searchRe = null;
      chart.clear();
      matchEl.textContent = '';
      document.body.removeAttribute('data-search-matches');
      return;
    }
    try { searchRe = new RegExp(term, 'i'); } catch (e) { searchRe = null; }
    chart.search(term);
  }
  var searchTimer = null;
  searchEl.addEventListener('input', function () {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(runSearch, 120);
  });
  byId('clear-search').addEventListener('click', function () { searchEl.value = ''; runSearch(); });
  byId('reset-zoom').addEventListener('click', function () { chart.resetZoom(); });

  var flameBtn = byId('mode-flame'), icicleBtn = byId('mode-icicle');
  function setOrientation(inv) {
    inverted = inv;
    flameBtn.setAttribute('aria-pressed', String(!inv));
    icicleBtn.setAttribute('aria-pressed', String(inv));
    document.body.setAttribute('data-orientation', inv ? 'icicle' : 'flame');
    chart.inverted(inv);
    chart.update();
  }
  flameBtn.addEventListener('click', function () { if (inverted) setOrientation(false); });
  icicleBtn.addEventListener('click', function () { if (!inverted) setOrientation(true); });
  flameBtn.setAttribute('aria-pressed', String(!inverted));
  icicleBtn.setAttribute('aria-pressed', String(inverted));
  document.body.setAttribute('data-orientation', inverted ? 'icicle' : 'flame');

  document.addEventListener('keydown', function (e) {
    if ((e.ctrlKey || e.metaKey) && (e.key === 'f' || e.key === 'F')) { e.preventDefault(); searchEl.focus(); searchEl.select(); }
    else if (e.key === 'Escape') {
      if (document.activeElement === searchEl && searchEl.value) { searchEl.value = ''; runSearch(); }
      else chart.resetZoom();
    }
  });

  var resizeTimer = null;
  window.addEventListener('resize', function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      var w = chartEl.clientWidth;
      if (w > 0 && w !== chart.width()) { chart.width(w); chart.update(); }
    }, 150);
  });

  byId('total').textContent = 'Total: ' + fmtValue(total) +
    (diff ? ' after, ' + fmtValue(diff.beforeTotal) + ' before' + (diff.normalized ? ' (normalised to the same total)' : '') : '');
  d3.select(chartEl).datum(data.tree).call(chart);
  // A flame graph grows upwards from its root: start at the bottom, where the root is.
  if (!inverted) window.scrollTo(0, document.documentElement.scrollHeight);
  document.body.setAttribute('data-ready', 'true');
})();
`;
