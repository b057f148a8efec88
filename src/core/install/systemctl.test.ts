import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { localShell } from '../../../test/support/local-shell.js';
import type { HostShell } from '../host.js';
import { AbortError } from '../errors.js';
import { systemctl } from './systemctl.js';

/**
 * The restart runs detached from the exec session that starts it, because that session is carried by the
 * runtime being restarted. Here a systemctl on PATH records what it was asked and takes its time, and the
 * shell refuses a few execs after the first (the runtime being down), as the API server would.
 */
describe('systemctl on a node', () => {
  let dir: string;
  /** A shell on this machine with the fake systemctl first on PATH; the `downFor` execs after the first fail. */
  const shellWith = (downFor = 0): HostShell => {
    const local = localShell();
    let calls = 0;
    return {
      node: 'n1',
      hostExec: async (s, o) => {
        calls += 1;
        if (calls > 1 && calls <= 1 + downFor) return { exitCode: -1, message: 'error executing command in container: container runtime is down', stdout: '', stderr: '' };
        return local.hostExec(`PATH=${dir}/bin:$PATH\n${s}`, o);
      },
    };
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'lading-systemctl-'));
    await mkdir(join(dir, 'bin'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  const fakeSystemctl = async (body: string) => {
    await writeFile(join(dir, 'bin', 'systemctl'), `#!/bin/sh\necho "$@" >>${dir}/asked\n${body}\n`);
    await chmod(join(dir, 'bin', 'systemctl'), 0o755);
  };

  it('restarts detached and waits for the result through the runtime being down', async () => {
    await fakeSystemctl('sleep 0.3; exit 0');
    await systemctl(shellWith(3), 'restart', 'crio', 'CRI-O', { stateDir: join(dir, 'state'), pollMs: 50 });
    assert.equal((await readFile(join(dir, 'asked'), 'utf8')).trim(), 'restart crio');
  });

  it('a failing restart is an error that names the runtime, its output, and what to do by hand', async () => {
    await fakeSystemctl('echo "Job for crio.service failed." >&2; exit 1');
    await assert.rejects(systemctl(shellWith(1), 'restart', 'crio', 'CRI-O', { stateDir: join(dir, 'state'), pollMs: 50 }), (e: unknown) => {
      assert.ok(e instanceof AbortError);
      assert.match(e.message, /^node n1: restart of CRI-O failed: Job for crio\.service failed\.$/);
      assert.match(e.hint ?? '', /restart CRI-O on the node by hand/);
      return true;
    });
  });

  it('a restart with no result in time is an error, not a hang', async () => {
    await fakeSystemctl('sleep 1');
    await assert.rejects(systemctl(shellWith(100), 'reload', 'crio', 'CRI-O', { stateDir: join(dir, 'state'), pollMs: 50, timeoutMs: 400 }), /reload of CRI-O failed: no result within 0 s \(last: error executing command in container: container runtime is down\)/);
  });
});
