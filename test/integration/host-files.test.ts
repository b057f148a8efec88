/**
 * lading's host-side file steps over a real /bin/sh on this machine, with a
 * temporary directory as the node's root: hostile mirrors, links that lead
 * out of certs.d, and a backup directory planted with files lading never
 * recorded (names with newlines too). Nothing outside what lading recorded
 * may be written or deleted.
 */
import { after, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { localShell } from '../support/local-shell.js';
import { AbortError, ExitCode } from '../../src/core/errors.js';
import { configureContainerdMirrors } from '../../src/core/install/containerd-driver.js';
import { writeHostFileWithBackup } from '../../src/core/config/host-files.js';
import { restoreHostFiles } from '../../src/core/config/host-restore.js';
import type { NodeFacts } from '../../src/core/cluster/preflight.js';

const shell = localShell();
const facts = { name: 'localhost', distribution: 'kubernetes', runtime: 'containerd', runtimeVersion: 'containerd://2.0.4' } as NodeFacts;
const temps: string[] = [];
let root: string;
let certs: string;
let backups: string;
let config: string;

/** Every file under `dir` (links not followed), with its content: a snapshot to prove nothing changed. */
async function tree(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isFile()) out[path] = await readFile(path, 'utf8');
    if (entry.isSymbolicLink()) out[path] = '-> link';
  }
  return out;
}

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'lading-node-'));
  temps.push(root);
  certs = join(root, 'etc/containerd/certs.d');
  backups = join(root, 'var/lib/lading/backups');
  config = join(root, 'etc/containerd/config.toml');
  await mkdir(certs, { recursive: true });
  await writeFile(config, `version = 3\n[plugins."io.containerd.cri.v1.images".registry]\n  config_path = "${certs}"\n`);
});

after(async () => {
  for (const dir of temps) await rm(dir, { recursive: true, force: true });
});

const options = () => ({ containerdConfig: config, backupDir: backups });
const mirror = (registry: string) => ({ registry, endpoints: ['https://harbor.site.local:5000'], skipVerify: false });

describe('writing hosts.toml on a node', () => {
  test('(a) a hostile registry name writes nothing anywhere: refused before the node is touched (exit 7)', async () => {
    const before = await tree(root);
    for (const registry of ['../../../../tmp/x', '../../../x', 'x\n[host."evil"]', 'x\n/some/file\ny', '/etc/containerd']) {
      await assert.rejects(configureContainerdMirrors(shell, facts, [mirror(registry)], options()), (e: unknown) => e instanceof AbortError && e.exitCode === ExitCode.bundle);
    }
    assert.deepEqual(await tree(root), before, 'no file written, no backup taken');
    assert.equal(existsSync(join(root, 'tmp/x/hosts.toml')), false);
  });

  test('(b) a link inside certs.d that leads outside is refused on the node; nothing is written there or backed up', async () => {
    const outside = join(root, 'outside');
    await mkdir(outside);
    await symlink(outside, join(certs, 'docker.io'));
    await assert.rejects(configureContainerdMirrors(shell, facts, [mirror('docker.io')], options()), (e: unknown) => {
      assert.ok(e instanceof AbortError && e.exitCode === ExitCode.node, String(e));
      assert.match(e.message, /refused to write .*docker\.io\/hosts\.toml: .* resolves to .*\/outside, outside .*certs\.d/);
      return true;
    });
    assert.deepEqual(await readdir(outside), []);
    assert.equal(existsSync(backups), false, 'no backup, no manifest');
    // A dangling link is refused too (mkdir -p would otherwise follow it).
    await symlink(join(root, 'nowhere'), join(certs, 'registry.lab:5000'));
    await assert.rejects(configureContainerdMirrors(shell, facts, [mirror('registry.lab:5000')], options()), /cannot be resolved/);
    assert.equal(existsSync(join(root, 'nowhere')), false);
  });

  test('certs.d itself may be a link (the operator\'s choice): its real location is the base', async () => {
    const real = join(root, 'data/certs.d');
    await mkdir(real, { recursive: true });
    await rm(certs, { recursive: true });
    await symlink(real, certs);
    const result = await configureContainerdMirrors(shell, facts, [mirror('docker.io')], options());
    assert.deepEqual(result.changed, [join(certs, 'docker.io/hosts.toml')]);
    assert.match(await readFile(join(real, 'docker.io/hosts.toml'), 'utf8'), /\[host\."https:\/\/harbor\.site\.local:5000"\]/);
  });

  test('hosts.toml with credentials is mode 600, and stays so when lading changes it again', async () => {
    const auth = new Map([['https://harbor.site.local:5000', 'Basic YTpi']]);
    await configureContainerdMirrors(shell, facts, [mirror('docker.io')], { ...options(), mirrorAuth: auth });
    const file = join(certs, 'docker.io/hosts.toml');
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    await chmod(file, 0o644);
    await configureContainerdMirrors(shell, facts, [mirror('docker.io')], { ...options(), mirrorAuth: new Map([['https://harbor.site.local:5000', 'Basic Yzpk']]) });
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.match(await readFile(file, 'utf8'), /authorization = "Basic Yzpk"/);
  });
});

describe('restoring from the manifest only', () => {
  test('(c) planted backups and crafted records restore and delete nothing; the recorded file is restored', async () => {
    const hosts = join(certs, 'docker.io/hosts.toml');
    await mkdir(join(certs, 'docker.io'));
    await writeFile(hosts, 'server = "https://registry-1.docker.io"\n');
    await configureContainerdMirrors(shell, facts, [mirror('docker.io')], options());

    const victims = join(root, 'victims');
    await mkdir(victims);
    const victim = (name: string) => join(victims, name);
    for (const name of ['absent-planted', 'files-planted', 'newline', 'record-outside', 'record-dotdot', 'record-wrong-backup', 'through-link']) await writeFile(victim(name), `original ${name}\n`);
    // Files lading never recorded: an "absent" mark (old restore: rm -f), a "files" copy (old restore: cp over), a newline name.
    await mkdir(join(backups, 'absent', victims), { recursive: true });
    await writeFile(join(backups, 'absent', victim('absent-planted')), '');
    await mkdir(join(backups, 'files', victims), { recursive: true });
    await writeFile(join(backups, 'files', victim('files-planted')), 'evil\n');
    // find prints absent/etc/x⏎<victims>/newline⏎y: the old `while read` loop took the middle line for a path.
    await mkdir(join(backups, 'absent/etc', `x\n${victims}`), { recursive: true });
    await writeFile(join(backups, 'absent/etc', `x\n${victim('newline')}\ny`), '');
    // Records lading would not write: outside its directories, with .., a backup elsewhere, not JSON, and one through a link.
    await mkdir(join(certs, 'evil'));
    await symlink(victims, join(certs, 'evil/link'));
    const record = (path: string, kind = 'absent', backup = join(backups, kind === 'file' ? 'files' : 'absent') + path) => JSON.stringify({ path, kind, backup });
    const manifest = join(backups, 'manifest');
    const crafted = [
      record(victim('record-outside')),
      record(`${certs}/../../../victims/record-dotdot`),
      record(join(certs, 'x/hosts.toml'), 'absent', victim('record-wrong-backup')),
      `${victim('newline')}`,
      record(join(certs, 'evil/link/through-link')),
    ];
    await writeFile(manifest, `${await readFile(manifest, 'utf8')}${crafted.join('\n')}\n`);
    const victimsBefore = await tree(victims);

    const outcome = await restoreHostFiles(shell, { backupDir: backups, allowedDirs: [certs, join(root, 'etc/containerd')] });

    assert.deepEqual(outcome.restored, [hosts]);
    assert.equal(await readFile(hosts, 'utf8'), 'server = "https://registry-1.docker.io"\n');
    assert.deepEqual(await tree(victims), victimsBefore, 'every victim still there, untouched');
    assert.equal(outcome.problems.length, 5, outcome.problems.join('\n'));
    assert.match(outcome.problems.join('\n'), /not below a directory lading writes into/);
    assert.match(outcome.problems.join('\n'), /not normalised/);
    assert.match(outcome.problems.join('\n'), /its backup is not where lading keeps it/);
    assert.match(outcome.problems.join('\n'), /not JSON/);
    assert.match(outcome.problems.join('\n'), /through-link: refused, .*resolves to .*victims, outside/);
    for (const p of outcome.problems) assert.doesNotMatch(p, /[\u0000-\u001f]/);
    // What was not acted on stays recorded for the operator; the planted files stay where they were.
    assert.equal((await readFile(manifest, 'utf8')).trim().split('\n').length, 5);
    assert.equal(await readFile(join(backups, 'files', victim('files-planted')), 'utf8'), 'evil\n');
  });

  test('(c) a backup directory of an older lading (no manifest) is reported and not walked', async () => {
    const victim = join(root, 'victim');
    await writeFile(victim, 'keep\n');
    await mkdir(join(backups, 'absent/etc', `x\n${root}`), { recursive: true });
    await writeFile(join(backups, 'absent/etc', `x\n${victim}\ny`), '');
    const before = await tree(root);
    await assert.rejects(restoreHostFiles(shell, { backupDir: backups, allowedDirs: [root] }), (e: unknown) => {
      assert.ok(e instanceof AbortError && e.exitCode === ExitCode.node);
      assert.match(e.message, /holds backups without a manifest \(written by an older lading\); lading restores only what it recorded, so it changed nothing/);
      assert.match(e.hint ?? '', /Restore them by hand/);
      return true;
    });
    assert.deepEqual(await tree(root), before);
  });

  test('(d) write then restore: originals back with their mode, created files removed, backups gone', async () => {
    const existing = join(root, 'etc/containers/storage.conf');
    const created = join(root, 'etc/containers/registries.conf.d/50-lading-mirrors.conf');
    await mkdir(join(root, 'etc/containers'), { recursive: true });
    await writeFile(existing, 'original\n', { mode: 0o640 });
    await chmod(existing, 0o640);
    await writeHostFileWithBackup(shell, existing, 'changed\n', backups);
    await writeHostFileWithBackup(shell, created, 'new\n', backups, { base: join(root, 'etc/containers/registries.conf.d'), secret: true });
    assert.equal(await readFile(existing, 'utf8'), 'changed\n');
    assert.equal((await stat(created)).mode & 0o777, 0o600);
    const outcome = await restoreHostFiles(shell, { backupDir: backups, allowedDirs: [join(root, 'etc/containers')] });
    assert.deepEqual(outcome, { restored: [existing, created], problems: [] });
    assert.equal(await readFile(existing, 'utf8'), 'original\n');
    assert.equal((await stat(existing)).mode & 0o777, 0o640);
    assert.equal(existsSync(created), false);
    assert.deepEqual(await readdir(backups), [], 'manifest and backup folders gone');
    assert.deepEqual(await restoreHostFiles(shell, { backupDir: backups, allowedDirs: [root] }), { restored: [], problems: [] }, 'a second restore has nothing to do');
  });

  test('(e) a second write keeps the first backup and adds no second record', async () => {
    const file = join(root, 'etc/containers/storage.conf');
    await mkdir(join(root, 'etc/containers'), { recursive: true });
    await writeFile(file, 'original\n');
    await writeHostFileWithBackup(shell, file, 'first\n', backups);
    await writeHostFileWithBackup(shell, file, 'second\n', backups);
    assert.equal(await readFile(join(backups, 'files', file), 'utf8'), 'original\n');
    const lines = (await readFile(join(backups, 'manifest'), 'utf8')).trim().split('\n');
    assert.deepEqual(lines.map((l) => JSON.parse(l)), [{ path: file, kind: 'file', backup: join(backups, 'files', file) }]);
    assert.deepEqual((await restoreHostFiles(shell, { backupDir: backups, allowedDirs: [join(root, 'etc')] })).restored, [file]);
    assert.equal(await readFile(file, 'utf8'), 'original\n');
  });

  test('a backup an older lading took for the same path is recorded when lading writes that path again', async () => {
    const file = join(root, 'etc/containers/storage.conf');
    await mkdir(join(root, 'etc/containers'), { recursive: true });
    await writeFile(file, 'changed by an older lading\n');
    await mkdir(join(backups, 'files', join(root, 'etc/containers')), { recursive: true });
    await writeFile(join(backups, 'files', file), 'original\n');
    await writeHostFileWithBackup(shell, file, 'now\n', backups);
    assert.deepEqual((await restoreHostFiles(shell, { backupDir: backups, allowedDirs: [join(root, 'etc')] })).restored, [file]);
    assert.equal(await readFile(file, 'utf8'), 'original\n');
    assert.equal((await lstat(file)).isFile(), true);
  });
});
