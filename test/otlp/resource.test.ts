import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';

import { baseResourceAttributes, containerIdFromCgroup, processResourceAttributes, readProcessInfo, type ProcessInfo } from '../../src/otlp/resource.js';

const ID = '3f4e8a1b2c9d'.padEnd(64, 'a');

describe('resource attributes', () => {
  it('finds container ids in /proc/PID/cgroup (docker, systemd scopes, containerd, cri-o, podman, kubepods)', () => {
    assert.equal(containerIdFromCgroup(`12:cpuset:/docker/${ID}\n11:memory:/docker/${ID}\n`), ID);
    assert.equal(containerIdFromCgroup(`0::/system.slice/docker-${ID}.scope\n`), ID);
    assert.equal(containerIdFromCgroup(`0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-${ID}.scope\n`), ID);
    assert.equal(containerIdFromCgroup(`0::/kubepods.slice/crio-${ID}.scope`), ID);
    assert.equal(containerIdFromCgroup(`0::/machine.slice/libpod-${ID}.scope/container`), ID);
    assert.equal(containerIdFromCgroup(`4:pids:/kubepods/burstable/pod0b8a1e0c-0000-4000-8000-000000000000/${ID}`), ID);
    assert.equal(containerIdFromCgroup('0::/user.slice/user-1000.slice/session-1.scope\n'), undefined);
    assert.equal(containerIdFromCgroup('0::/\n'), undefined);
    assert.equal(containerIdFromCgroup(''), undefined);
  });

  it('reads exe, cmdline, comm and cgroup from a /proc tree, stripping " (deleted)"', () => {
    const root = mkdtempSync(join(tmpdir(), 'ebpf-otel-proc-'));
    try {
      const dir = join(root, '4242');
      mkdirSync(dir);
      symlinkSync('/opt/app/bin/server (deleted)', join(dir, 'exe'));
      writeFileSync(join(dir, 'cmdline'), 'server\0--port\0 80\0');
      writeFileSync(join(dir, 'comm'), 'srv-main\n');
      writeFileSync(join(dir, 'cgroup'), `0::/system.slice/docker-${ID}.scope\n`);
      const info = readProcessInfo(4242, { procRoot: root });
      assert.deepEqual(info, {
        pid: 4242,
        executablePath: '/opt/app/bin/server',
        executableName: 'server',
        commandArgs: ['server', '--port', ' 80'],
        containerId: ID,
      });
      assert.deepEqual(processResourceAttributes(info), {
        'process.pid': 4242,
        'process.executable.name': 'server',
        'process.executable.path': '/opt/app/bin/server',
        'process.command_line': 'server --port  80',
        'process.command_args': ['server', '--port', ' 80'],
        'container.id': ID,
      });
      // no exe link (kernel thread, or not ours to read): the comm names the executable
      rmSync(join(dir, 'exe'));
      assert.equal(readProcessInfo(4242, { procRoot: root }).executableName, 'srv-main');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('reads a live process and keeps what was captured once it has exited', async () => {
    const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'otlp-marker-arg'], { stdio: 'ignore' });
    const pid = child.pid!;
    let captured: ProcessInfo | undefined;
    try {
      // wait until the child has exec'd node (its cmdline shows our marker)
      for (let i = 0; i < 200; i++) {
        captured = readProcessInfo(pid);
        if (captured.commandArgs?.includes('otlp-marker-arg')) break;
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.ok(captured);
      assert.equal(captured.pid, pid);
      assert.deepEqual(captured.commandArgs!.slice(-3), ['-e', 'setInterval(() => {}, 1000)', 'otlp-marker-arg']);
      assert.equal(captured.executableName, basename(captured.executablePath!));
      assert.match(captured.executablePath!, /node/);
    } finally {
      child.kill('SIGKILL');
      await new Promise((r) => child.once('exit', r));
    }
    // reaped: /proc/PID is gone
    assert.deepEqual(readProcessInfo(pid), { pid });
    assert.deepEqual(readProcessInfo(pid, { previous: captured }), captured);
  });

  it('host attributes, OTEL_RESOURCE_ATTRIBUTES over detected values, service.name last', () => {
    const host = { hostName: 'box', kernelRelease: '6.1.0-18-amd64', arch: 'amd64' };
    assert.deepEqual(baseResourceAttributes({ serviceName: 'ebpf-otel', resourceAttributes: {} }, host), {
      'service.name': 'ebpf-otel',
      'host.name': 'box',
      'host.arch': 'amd64',
      'os.type': 'linux',
      'os.version': '6.1.0-18-amd64',
    });
    assert.deepEqual(
      baseResourceAttributes({ serviceName: 'svc', resourceAttributes: { 'host.name': 'override', 'deployment.environment': 'prod' } }, host),
      {
        'service.name': 'svc',
        'host.name': 'override',
        'host.arch': 'amd64',
        'os.type': 'linux',
        'os.version': '6.1.0-18-amd64',
        'deployment.environment': 'prod',
      },
    );
  });
});
