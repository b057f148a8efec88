/**
 * Differential test of lading's tar reader against GNU tar: every tar lading
 * accepts (the corpus, and real GNU tar archives in each format) extracts with
 * GNU tar to exactly the regular files lading sees, byte for byte; every tar
 * lading refuses makes `lading verify` (the real CLI) exit 7 quickly with one
 * error line naming the entry, and no stack trace. (Go's archive/tar, the
 * reader of containerd and skopeo, is compared by `npm run fuzz`.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { BundleReader } from '../../src/core/bundle/reader.js';
import { ExitCode } from '../../src/core/errors.js';
import { corpus } from '../support/hostile-tar-corpus.js';
import { DIST, distNodeFlags } from '../support/executable.js';
import { runLading } from '../support/lading.js';
import { requireTool } from '../support/tools.js';

type Files = Record<string, string>;

async function ladingFiles(path: string): Promise<Files> {
  const reader = await BundleReader.open(path);
  try {
    const files: Files = {};
    for (const name of reader.entries.keys()) files[name] = (await reader.readEntry(name)).toString('hex');
    return files;
  } finally {
    await reader.close();
  }
}

/** Extracts with GNU tar; it must succeed without a warning. */
async function gnuTarFiles(tar: string, path: string, into: string): Promise<Files> {
  await mkdir(into);
  const run = spawnSync(tar, ['-xf', path, '-C', into, '--warning=no-timestamp'], { encoding: 'utf8' });
  assert.equal(run.status, 0, `GNU tar failed: ${run.stderr}`);
  const files: Files = {};
  for (const entry of await readdir(into, { recursive: true, withFileTypes: true })) {
    const full = join(entry.parentPath, entry.name);
    if (entry.isFile()) files[full.slice(into.length + 1)] = (await readFile(full)).toString('hex');
    else assert.ok(entry.isDirectory(), `GNU tar made ${full}, neither a file nor a directory`);
  }
  return files;
}

/** dist/lading.mjs run as bin/lading runs it, without bin/lading's Node lookup and freshness check. */
function runBuilt(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [...distNodeFlags(), DIST, ...args], { env: { ...process.env, CI: '1', NO_COLOR: '1' }, timeout: 30_000 }, (error, _stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : null) : 0;
      if (error && code === null) reject(error);
      else resolve({ code, stderr });
    });
    child.stdin?.end();
  });
}

const sortedKeys = (files: Files): Files => Object.fromEntries(Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1)));

test('accepted tars: GNU tar extracts exactly the files lading reads', async (t) => {
  const tar = requireTool('tar');
  const dir = await mkdtemp(join(tmpdir(), 'lading-hostile-tar-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  let n = 0;
  const compare = async (name: string, path: string): Promise<void> => {
    const lading = await ladingFiles(path);
    assert.deepEqual(sortedKeys(await gnuTarFiles(tar, path, join(dir, `x${n++}`))), sortedKeys(lading), name);
  };

  for (const c of corpus().filter((c) => c.files)) {
    await t.test(c.name, async () => {
      const path = join(dir, `case${n}.tar`);
      await writeFile(path, c.bytes);
      await compare(c.name, path);
      const expected = Object.fromEntries(Object.entries(c.files!).map(([k, v]) => [k, Buffer.from(v).toString('hex')]));
      assert.deepEqual(sortedKeys(await ladingFiles(path)), sortedKeys(expected));
    });
  }

  // A layout directory as an operator might re-pack it by hand, in each of GNU tar's formats.
  const layout = join(dir, 'layout');
  const long = `${'d'.repeat(90)}/${'e'.repeat(60)}`;
  const tree: Array<[string, string]> = [['oci-layout', '{"imageLayoutVersion":"1.0.0"}'], ['index.json', '{"manifests":[]}'], [`blobs/sha256/${'a'.repeat(64)}`, 'blob'], [`blobs/${long}`, 'long name']];
  for (const [name, content] of tree) {
    await mkdir(join(layout, name, '..'), { recursive: true });
    await writeFile(join(layout, name), content);
  }
  for (const format of ['gnu', 'oldgnu', 'posix', 'ustar']) {
    await t.test(`GNU tar --format=${format} of the layout directory ("./" names)`, async () => {
      const path = join(dir, `layout-${format}.tar`);
      execFileSync(tar, ['-cf', path, `--format=${format}`, '-C', layout, '.']);
      await compare(format, path);
      assert.equal((await ladingFiles(path))[`blobs/${long}`], Buffer.from('long name').toString('hex'));
    });
  }
  await t.test('GNU tar --format=v7 of short names, listed one by one', async () => {
    const path = join(dir, 'layout-v7.tar');
    execFileSync(tar, ['-cf', path, '--format=v7', '-C', layout, 'oci-layout', 'index.json', `blobs/sha256/${'a'.repeat(64)}`]);
    await compare('v7', path);
  });
});

test(`refused tars: lading verify exits 7 at once with one line naming the entry (${corpus().filter((c) => c.culprit).length} tars)`, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'lading-hostile-tar-'));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cases = corpus().filter((c) => c.culprit);
  const check = async (index: number): Promise<void> => {
    const c = cases[index]!;
    const path = join(dir, `refused${index}.tar`);
    await writeFile(path, c.bytes);
    const started = Date.now();
    // The first through bin/lading (it rebuilds dist/lading.mjs if needed), the rest straight on the build: half the start-up time.
    const run = index === 0 ? await runLading(['verify', path], { timeoutMs: 30_000 }) : await runBuilt(['verify', path]);
    const seconds = (Date.now() - started) / 1000;
    assert.equal(run.code, ExitCode.bundle, `${c.name}: exit ${run.code}\n${run.stderr}`);
    const errors = run.stderr.split('\n').filter((line) => line.startsWith('Error: '));
    assert.equal(errors.length, 1, `${c.name}: one error line:\n${run.stderr}`);
    assert.ok(errors[0]!.startsWith(`Error: ${path}: `), `${c.name}: names the file: ${errors[0]}`);
    assert.match(errors[0]!, c.culprit!, c.name);
    assert.doesNotMatch(run.stderr, /This is a bug|^\s+at /m, `${c.name}: no stack trace`);
    assert.doesNotMatch(run.stderr, /\u001b/, `${c.name}: no raw escape sequence`);
    assert.ok(seconds < 10, `${c.name}: took ${seconds}s`);
  };
  await check(0); // alone first: it may rebuild dist/lading.mjs
  const failures: string[] = [];
  let next = 1;
  const worker = async (): Promise<void> => {
    for (let index = next++; index < cases.length; index = next++) {
      await check(index).catch((error: Error) => failures.push(error.message));
    }
  };
  await Promise.all(Array.from({ length: Math.max(2, availableParallelism()) }, worker));
  assert.deepEqual(failures, [], `${failures.length} of ${cases.length} refused tars were not reported as they should be`);
});
