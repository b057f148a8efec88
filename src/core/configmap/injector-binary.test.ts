import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbortError } from '../errors.js';
import { sha256Hex } from '../oci/digest.js';
import { injectorArch, locateInjector } from './injector-binary.js';

test('the injector for a platform: from LADING_INJECTOR_DIR, with its size and sha256; other platforms refused', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lading-injector-binary-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const bytes = Buffer.from('not really an ELF');
  const loader = Buffer.from('a loader');
  await writeFile(join(dir, 'injector-linux-arm64'), bytes);
  await writeFile(join(dir, 'loader-linux-arm64'), loader);
  const found = await locateInjector('linux/arm64/v8', { LADING_INJECTOR_DIR: dir });
  assert.deepEqual(found, {
    platform: 'linux/arm64/v8',
    path: join(dir, 'injector-linux-arm64'),
    size: bytes.length,
    sha256: sha256Hex(bytes),
    loader: { path: join(dir, 'loader-linux-arm64'), size: loader.length, sha256: sha256Hex(loader) },
  });
  await assert.rejects(locateInjector('linux/amd64', { LADING_INJECTOR_DIR: dir }), (e: unknown) => e instanceof AbortError && /no injector-linux-amd64 and no loader-linux-amd64/.test(e.message));
  assert.equal(injectorArch('linux/amd64'), 'amd64');
  assert.throws(() => injectorArch('linux/s390x'), (e: unknown) => e instanceof AbortError && /not linux\/s390x/.test(e.message));
  assert.throws(() => injectorArch('windows/amd64'), AbortError);
});
