import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { Agent, fetch } from 'undici';
import {
  PID_FILE,
  PortInUseError,
  connectRegistry,
  freePort,
  runningRegistryPid,
  startRegistry,
  stopRegistryFromPidFile,
  type TestRegistry,
} from './registry.js';

function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

function cmdline(pid: number): string[] {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
}

const started: TestRegistry[] = [];
after(async () => {
  for (const r of started) await r.stop();
});

async function start(options: Parameters<typeof startRegistry>[0] = {}): Promise<TestRegistry> {
  const r = await startRegistry(options);
  started.push(r);
  return r;
}

describe('startRegistry', () => {
  it('runs a plain registry on 127.0.0.1 from its state dir and stops it completely', async () => {
    const r = await start();
    assert.match(r.host, /^127\.0\.0\.1:\d+$/);
    assert.equal(r.url, `http://${r.host}`);
    assert.equal(r.scheme, 'http');
    assert.equal(r.caFile, undefined);
    assert.ok(path.basename(r.stateDir).startsWith('lading-registry-'));
    assert.ok(r.stateDir.startsWith(os.tmpdir()));
    assert.equal(readFileSync(path.join(r.stateDir, PID_FILE), 'utf8').trim(), String(r.pid));
    assert.equal(runningRegistryPid(r.stateDir), r.pid);
    const args = cmdline(r.pid);
    assert.ok(args[0]?.endsWith('docker-registry'), `pid ${r.pid} runs ${args.join(' ')}`);
    assert.ok(args.includes(path.join(r.stateDir, 'config.yml')));
    assert.match(readFileSync(path.join(r.stateDir, 'config.yml'), 'utf8'), new RegExp(`addr: 127\\.0\\.0\\.1:${r.port}`));

    const res = await r.fetch('/v2/');
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('docker-distribution-api-version'), 'registry/2.0');
    await res.body?.cancel();

    await r.stop();
    assert.ok(processGone(r.pid), `registry pid ${r.pid} still running after stop()`);
    assert.equal(existsSync(r.stateDir), false, 'state dir removed');
    await r.stop(); // idempotent
  });

  it('asks for credentials when auth is on', async () => {
    const r = await start({ auth: { username: 'alice', password: 's3cret' } });
    assert.equal(r.username, 'alice');
    assert.equal(r.password, 's3cret');
    const anon = await r.fetch('/v2/', { auth: false });
    assert.equal(anon.status, 401);
    assert.match(anon.headers.get('www-authenticate') ?? '', /^Basic realm=/);
    await anon.body?.cancel();

    const wrong = await r.fetch('/v2/', { headers: { authorization: `Basic ${Buffer.from('alice:nope').toString('base64')}` } });
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();

    const ok = await r.fetch('/v2/');
    assert.equal(ok.status, 200);
    await ok.body?.cancel();
    assert.match(readFileSync(path.join(r.stateDir, 'htpasswd'), 'utf8'), /^alice:\$2y\$/);
  });

  it('serves TLS with a CA-signed cert for 127.0.0.1 and localhost', async () => {
    const r = await start({ tls: true, auth: { username: 'bob', password: 'pw' } });
    assert.equal(r.scheme, 'https');
    assert.equal(r.url, `https://${r.host}`);
    assert.ok(r.caFile && existsSync(r.caFile));
    assert.ok(r.certDir && existsSync(path.join(r.certDir, 'ca.crt')));

    const cert = new X509Certificate(readFileSync(path.join(r.stateDir, 'tls', 'server.crt')));
    assert.match(cert.subjectAltName ?? '', /IP Address:127\.0\.0\.1/);
    assert.match(cert.subjectAltName ?? '', /DNS:localhost/);
    assert.ok(cert.verify(new X509Certificate(readFileSync(r.caFile)).publicKey), 'server cert signed by the CA');

    const res = await r.fetch('/v2/');
    assert.equal(res.status, 200);
    await res.body?.cancel();
    const anon = await r.fetch('/v2/', { auth: false });
    assert.equal(anon.status, 401);
    await anon.body?.cancel();

    // Through "localhost" too, with the same CA.
    const viaLocalhost = await fetch(`https://localhost:${r.port}/v2/`, { dispatcher: r.dispatcher });
    assert.equal(viaLocalhost.status, 401);
    await viaLocalhost.body?.cancel();

    // Without the CA the cert is not trusted.
    const untrusting = new Agent();
    try {
      await assert.rejects(fetch(`${r.url}/v2/`, { dispatcher: untrusting }), (err: Error & { cause?: { code?: string } }) => {
        assert.match(String(err.cause?.code ?? err.cause), /SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
        return true;
      });
    } finally {
      await untrusting.close();
    }
  });

  it('refuses a fixed port that another process holds, with a clear message', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen({ host: '127.0.0.1', port: 0 }, resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      await assert.rejects(startRegistry({ port }), (err: Error) => {
        assert.ok(err instanceof PortInUseError);
        assert.match(err.message, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is already in use`));
        return true;
      });
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it('listens on a fixed free port when asked', async () => {
    const port = await freePort();
    const r = await start({ port });
    assert.equal(r.host, `127.0.0.1:${port}`);
    await r.stop();
  });

  it('runs detached, is found again from its state dir, and stops via the pid file', async () => {
    const stateDir = mkdtempSync(path.join(os.tmpdir(), 'lading-registry-test-'));
    try {
      const r = await startRegistry({ stateDir, detached: true });
      let stopped = false;
      try {
        assert.equal(r.stateDir, stateDir);
        await assert.rejects(startRegistry({ stateDir }), /already running/);

        const again = await connectRegistry(stateDir);
        assert.ok(again, 'connectRegistry finds the running registry');
        assert.equal(again.url, r.url);
        assert.equal(again.pid, r.pid);
        const res = await again.fetch('/v2/');
        assert.equal(res.status, 200);
        await res.body?.cancel();
        await again.dispatcher.close();

        assert.equal(await stopRegistryFromPidFile(stateDir), true);
        stopped = true;
        assert.ok(processGone(r.pid), 'registry process gone');
        assert.equal(existsSync(path.join(stateDir, PID_FILE)), false);
        assert.ok(existsSync(path.join(stateDir, 'config.yml')), 'a caller-given state dir is kept');
        assert.equal(await connectRegistry(stateDir), undefined);
        assert.equal(await stopRegistryFromPidFile(stateDir), false);
      } finally {
        if (!stopped) await r.stop();
        await r.dispatcher.close().catch(() => {});
      }
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });

  it('does not kill a process that merely has its pid in a stale pid file', async () => {
    const stateDir = mkdtempSync(path.join(os.tmpdir(), 'lading-registry-test-'));
    try {
      writeFileSync(path.join(stateDir, PID_FILE), `${process.pid}\n`);
      assert.equal(runningRegistryPid(stateDir), undefined);
      assert.equal(await stopRegistryFromPidFile(stateDir), false);
      assert.equal(processGone(process.pid), false);
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
