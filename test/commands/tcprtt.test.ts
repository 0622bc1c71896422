// tcprtt end to end, for real: loopback TCP ping-pong between addresses and ports this test
// picks (127.0.0.5 <- 127.0.0.6, ::1, and a dual-stack listener reached over IPv4), traced by the
// tool through its CLI with each filter; each filter must keep exactly the matching side.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo, type Server } from 'node:net';
import { requireRoot } from '../helpers.js';
import { parseJsonLines, runTool, startTool, totalWhere, type ToolResult } from '../tool-runner.js';
import type { HistogramSetJson } from '../../src/render/json.js';
import { knownUnattachable, tcprttHooks } from '../../src/commands/tcprtt.js';

const ROUNDS = 40;

/** An echo server listening on host:0; resolves with it and its port. */
function echoServer(host: string, ipv6Only = false): Promise<{ server: Server; port: number }> {
  return new Promise((resolve, reject) => {
    const server = createServer((s) => s.on('data', (d) => s.write(d)).on('error', () => {}));
    server.once('error', reject);
    server.listen({ host, port: 0, ipv6Only }, () => resolve({ server, port: (server.address() as AddressInfo).port }));
  });
}

/**
 * ROUNDS request/response exchanges, each waiting for the echo: every message is a separate
 * segment received in ESTABLISHED state on both ends, so tcp_rcv_established runs on both.
 */
function pingPong(host: string, port: number, localAddress?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = connect({ host, port, ...(localAddress ? { localAddress } : {}) }, () => c.write('ping 0'));
    let n = 0;
    c.on('data', () => {
      if (++n >= ROUNDS) c.end();
      else c.write(`ping ${n}`);
    });
    c.on('error', reject);
    c.on('close', () => resolve());
  });
}

function ok(r: ToolResult, what: string): HistogramSetJson {
  assert.equal(r.status, 0, `${what}: exit ${r.status} ${r.signal ?? ''}\n${r.stderr}`);
  const sets = parseJsonLines(r.stdout);
  assert.equal(sets.length, 1, `${what}: one JSON document`);
  return sets[0]!;
}

const labels = (set: HistogramSetJson) => JSON.stringify(set.histograms.map((h) => [h.labels, h.total]));

test('tcprtt IPv4: port and address filters keep exactly the matching end of the connection', async (t) => {
  if (!requireRoot(t)) return;
  const SERVER = '127.0.0.5';
  const CLIENT = '127.0.0.6';
  const { server, port } = await echoServer(SERVER);
  const idle = await echoServer(SERVER); // a port nobody talks to
  try {
    const runs: [string, string[]][] = [
      ['-p server port -B', ['-p', String(port), '-B']],
      ['-P server port -b', ['-P', String(port), '-b']],
      ['-a server -B', ['-a', SERVER, '-B']],
      ['-A server -b', ['-A', SERVER, '-b']],
      ['-a client -P server port', ['-a', CLIENT, '-P', String(port)]],
      ['-p idle port', ['-p', String(idle.port)]],
      ['-6 -p server port', ['-6', '-p', String(port)]],
      ['-4 -p server port -e', ['-4', '-p', String(port), '-e']],
    ];
    const tools = await Promise.all(runs.map(([, args]) => startTool(['tcprtt', '--json', ...args])));
    await pingPong(SERVER, port, CLIENT);
    const results = await Promise.all(tools.map((tool) => tool.stop()));
    const set = (i: number) => ok(results[i]!, runs[i]![0]);

    // The server's socket (local port = server port, local address = SERVER) hears the client.
    const serverSide = set(0);
    assert.equal(serverSide.groupBy, 'raddr');
    assert.deepEqual(serverSide.histograms.map((h) => h.labels.raddr), [CLIENT], labels(serverSide));
    assert.ok(totalWhere(serverSide) >= ROUNDS - 1, labels(serverSide));
    // The client's socket (remote port = server port) hears the server.
    const clientSide = set(1);
    assert.deepEqual(clientSide.histograms.map((h) => h.labels.laddr), [CLIENT], labels(clientSide));
    assert.ok(totalWhere(clientSide) >= ROUNDS - 1, labels(clientSide));

    const byLaddr = set(2);
    assert.deepEqual(byLaddr.histograms.map((h) => h.labels.raddr), [CLIENT], labels(byLaddr));
    assert.equal(totalWhere(byLaddr), totalWhere(serverSide), 'same sockets, same samples');
    const byRaddr = set(3);
    assert.deepEqual(byRaddr.histograms.map((h) => h.labels.laddr), [CLIENT], labels(byRaddr));
    assert.equal(totalWhere(byRaddr), totalWhere(clientSide), 'same sockets, same samples');
    assert.equal(totalWhere(set(4)), totalWhere(clientSide), 'local client address and remote server port: the client end');

    assert.deepEqual(set(5).histograms, [], 'nothing on the idle port');
    assert.deepEqual(set(6).histograms, [], '-6 drops IPv4 traffic');
    const v4 = set(7);
    assert.equal(totalWhere(v4), totalWhere(serverSide), '-4 keeps it');
    assert.equal(v4.histograms.length, 1);
    assert.deepEqual(v4.histograms[0]!.labels, {}, 'ungrouped');
    assert.ok(v4.histograms[0]!.average !== null && v4.histograms[0]!.average > 0, 'smoothed RTT is known');
  } finally {
    server.close();
    idle.server.close();
  }
});

test('tcprtt IPv6 on ::1, and IPv4 clients of a dual-stack listener (v4-mapped) filter as IPv4', async (t) => {
  if (!requireRoot(t)) return;
  const six = await echoServer('::1', true);
  const dual = await echoServer('::');
  try {
    const runs: [string, string[]][] = [
      ['-6 -p port6 -B', ['-6', '-p', String(six.port), '-B']],
      ['-4 -p port6', ['-4', '-p', String(six.port)]],
      ['-A ::1 -P port6 -b', ['-A', '::1', '-P', String(six.port), '-b']],
      ['-a 127.0.0.7 -B (dual stack)', ['-a', '127.0.0.7', '-B']],
      ['-4 -P dual port -b', ['-4', '-P', String(dual.port), '-b']],
      ['-6 -p dual port', ['-6', '-p', String(dual.port)]],
    ];
    const tools = await Promise.all(runs.map(([, args]) => startTool(['tcprtt', '--json', ...args])));
    await pingPong('::1', six.port);
    await pingPong('127.0.0.7', dual.port, '127.0.0.8');
    const results = await Promise.all(tools.map((tool) => tool.stop()));
    const set = (i: number) => ok(results[i]!, runs[i]![0]);

    const v6 = set(0);
    assert.deepEqual(v6.histograms.map((h) => h.labels.raddr), ['::1'], labels(v6));
    assert.ok(totalWhere(v6) >= ROUNDS - 1, labels(v6));
    assert.deepEqual(set(1).histograms, [], '-4 drops IPv6 traffic');
    const client6 = set(2);
    assert.deepEqual(client6.histograms.map((h) => h.labels.laddr), ['::1'], labels(client6));
    assert.ok(totalWhere(client6) >= ROUNDS - 1, labels(client6));

    // The accepted socket is AF_INET6 with ::ffff:127.0.0.7 <- ::ffff:127.0.0.8.
    const mapped = set(3);
    assert.deepEqual(mapped.histograms.map((h) => h.labels.raddr), ['127.0.0.8'], labels(mapped));
    assert.ok(totalWhere(mapped) >= ROUNDS - 1, labels(mapped));
    const dualClient = set(4);
    assert.deepEqual(dualClient.histograms.map((h) => h.labels.laddr), ['127.0.0.8'], labels(dualClient));
    assert.deepEqual(set(5).histograms, [], '-6 drops v4-mapped traffic');
  } finally {
    six.server.close();
    dual.server.close();
  }
});

test('tcprtt: tp_btf, raw_tp and tracepoint hooks see the same samples; text output with -b -e -m', async (t) => {
  if (!requireRoot(t)) return;
  const { server, port } = await echoServer('127.0.0.9');
  try {
    const hooks = ['tp_btf', 'raw_tp', 'tracepoint'];
    const tools = await Promise.all([
      ...hooks.map((h) => startTool(['tcprtt', '--hook', h, '-p', String(port), '--json'])),
      startTool(['tcprtt', '-p', String(port), '-b', '-e']),
      startTool(['tcprtt', '-p', String(port), '-m', '--json']),
    ]);
    await pingPong('127.0.0.9', port);
    const results = await Promise.all(tools.map((tool) => tool.stop()));
    const totals = hooks.map((h, i) => totalWhere(ok(results[i]!, h)));
    assert.ok(totals[0]! >= ROUNDS - 1, `${totals}`);
    assert.deepEqual(totals, [totals[0], totals[0], totals[0]], `samples per hook ${hooks.join('/')}: ${totals}`);

    const text = results[3]!;
    assert.equal(text.status, 0, text.stderr);
    assert.match(text.stdout, /^Local Address = 127\.0\.0\.9$/m);
    assert.match(text.stdout, /^ +usecs +: count +distribution$/m);
    const avg = /^avg = \d+ usecs, total: \d+ usecs, count: (\d+)$/m.exec(text.stdout);
    assert.ok(avg, text.stdout);
    assert.equal(Number(avg[1]), totals[0]);

    const ms = ok(results[4]!, '-m');
    assert.equal(ms.unit, 'msecs');
    assert.equal(totalWhere(ms), totals[0]);
  } finally {
    server.close();
  }
});

test('tcprtt: hooks before the one chosen are named with their reason, in chain order; kprobes skipped without a load where the kernel has none', (t) => {
  if (!requireRoot(t)) return;
  const r = runTool(['-v', 'tcprtt', '-d', '0.2']);
  assert.equal(r.status, 0, r.stderr);
  const names = tcprttHooks().map((c) => c.name);
  const chosen = /^tcprtt: attached with (\S+)$/m.exec(r.stderr)?.[1];
  assert.ok(chosen !== undefined && names.includes(chosen), r.stderr);
  const before = [...r.stderr.matchAll(/^tcprtt: (\S+) unavailable: /gm)].map((m) => m[1]);
  assert.deepEqual(before, names.slice(0, names.indexOf(chosen)), r.stderr);
  const why = knownUnattachable('kprobe');
  if (why === undefined) return; // this kernel has kprobes: trying is the only way to know
  const k = runTool(['tcprtt', '--hook', 'kprobe', '-d', '1']);
  assert.notEqual(k.status, 0);
  assert.equal(k.stderr.trim(), `ebpf-otel: tcprtt: no way to attach on this kernel (kprobe: ${why})`);
});

test('tcprtt -i INTERVAL -d DURATION prints every interval until the duration, -T stamps each', (t) => {
  if (!requireRoot(t)) return;
  const r = runTool(['tcprtt', '-T', '-i', '0.4', '-d', '1']);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.match(/^\d\d:\d\d:\d\d$/gm)?.length, 3, r.stdout);
  const once = runTool(['tcprtt', '--json', '-d', '0.5']);
  assert.equal(once.status, 0, once.stderr);
  assert.equal(parseJsonLines(once.stdout).length, 1);
});

test('tcprtt bad input: one line on stderr, non-zero exit', (t) => {
  if (!requireRoot(t)) return;
  const cases: [string[], RegExp][] = [
    [['tcprtt', '-p', '0'], /local port must be a port number/],
    [['tcprtt', '-P', '70000'], /remote port must be a port number/],
    [['tcprtt', '-a', 'localhost'], /local address must be an IPv4 or IPv6 address/],
    [['tcprtt', '-4', '-A', '::1', '-d', '1'], /IPv6 address, and -4 traces IPv4 only/],
    [['tcprtt', '-6', '-a', '10.0.0.1', '-d', '1'], /IPv4 address, and -6 traces IPv6 only/],
    [['tcprtt', '-b', '-B'], /cannot be used with/],
    [['tcprtt', '-4', '-6'], /cannot be used with/],
    [['tcprtt', '-i', 'often'], /interval must be a positive number/],
  ];
  for (const [args, expected] of cases) {
    const r = runTool(args);
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, expected);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});
