import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundlePartialOwner, cachePartOwner, isProcessAlive, removeDeadBundlePartials } from './leftovers.js';

const HEX = 'e'.repeat(64);

test('cachePartOwner matches only BlobCache partial names', () => {
  assert.equal(cachePartOwner(`${HEX}.part-1234-0a1b2c3d`), 1234);
  for (const name of [HEX, `${HEX}.part-1234`, `${HEX}.part-1234-0a1b2c3`, `${HEX}.part-x-0a1b2c3d`, `${HEX.slice(1)}.part-1-0a1b2c3d`, `../${HEX}.part-1-0a1b2c3d`, `${HEX}.part-1-0a1b2c3d.keep`]) {
    assert.equal(cachePartOwner(name), undefined, name);
  }
});

test('bundlePartialOwner matches only .NAME.partial-PID for the same output name', () => {
  assert.equal(bundlePartialOwner('.site.lading.tar.partial-42', 'site.lading.tar'), 42);
  for (const name of ['.site.lading.tar.partial-', '.site.lading.tar.partial-42.old', '.other.tar.partial-42', 'site.lading.tar.partial-42', '.site.lading.tar.partial--1']) {
    assert.equal(bundlePartialOwner(name, 'site.lading.tar'), undefined, name);
  }
  // Regex characters in the output name are plain characters.
  assert.equal(bundlePartialOwner('.a.tar.partial-7', 'a+tar'), undefined);
});

test('isProcessAlive: this process yes, an exited child no, ids that address groups never', () => {
  assert.equal(isProcessAlive(process.pid), true);
  assert.equal(isProcessAlive(spawnSync('true').pid!), false);
  for (const pid of [0, -1, 1.5, 2 ** 40]) assert.equal(isProcessAlive(pid), false, String(pid));
  assert.equal(isProcessAlive(1), true, 'init is alive (EPERM or not, it exists)');
});

test('removeDeadBundlePartials removes dead writers\' temp files for this output only', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lading-leftovers-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const dead = spawnSync('true').pid!;
  const files = [`.out.tar.partial-${dead}`, `.out.tar.partial-${process.pid}`, `.out.tar.partial-${dead}.bak`, `.b.tar.partial-${dead}`, 'out.tar'];
  for (const name of files) await writeFile(join(dir, name), 'x');
  assert.deepEqual(await removeDeadBundlePartials(join(dir, 'out.tar')), [`.out.tar.partial-${dead}`]);
  assert.deepEqual((await readdir(dir)).sort(), files.slice(1).sort());
});
