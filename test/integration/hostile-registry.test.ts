/**
 * `lading create` against a registry that lies (test/support/hostile-registry.ts):
 * every hostile answer ends in its documented exit code and one error line
 * naming the image or blob, quickly, in bounded memory, writing nothing
 * outside the run's directory; credentials never reach another origin.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HostileRegistry, sendEndless, sendJson, serveImage, tinyImage, type Handler, type Target, type TinyImage } from '../support/hostile-registry.js';
import { assertRefused, createIn } from '../support/hostile-run.js';
import { runLading } from '../support/lading.js';

let work: string;
before(async () => {
  work = await mkdtemp(join(tmpdir(), 'lading-hostile-'));
});
after(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

const create = async (image: string, options: { dir?: string } = {}) => createIn(options.dir ?? (await mkdtemp(join(work, 'case-'))), image);

async function startWith(handler: Handler): Promise<{ registry: HostileRegistry; host: string }> {
  const registry = new HostileRegistry();
  registry.handle(handler);
  const port = await registry.listen('main');
  return { registry, host: `127.0.0.1:${port}` };
}

/** Serves `image`, except that `override` answers first when it returns true. */
function except(image: TinyImage, override: (res: ServerResponse, target: Target) => boolean): Handler {
  const honest = serveImage(image);
  return (req, res, target, listener) => {
    if (!override(res, target)) honest(req, res, target, listener);
  };
}

const image = tinyImage();
const manifestOf = (layers: (real: Record<string, unknown>) => unknown[]) => tinyImage({ layers });
const ESCAPES = Buffer.from('\u001b[2J\u001b]0;pwned\u0007 EVIL\r\n'.repeat(512));

// One run at a time: bin/lading rebuilds dist/ when sources changed, and parallel runs could read it half-written.
describe('hostile answers end in their exit code and one line', () => {
  const cases: Array<{ name: string; handler: Handler; code: number; message: RegExp }> = [
    {
      name: 'endless manifest body (chunked, no Content-Length)',
      handler: except(image, (res, t) => t.kind === 'manifest' && (sendEndless(res), true)),
      code: 4,
      message: /hostile\/app:1: manifest of more than 4 MiB is larger than lading accepts/,
    },
    {
      name: 'oversized manifest with Content-Length',
      handler: except(image, (res, t) => t.kind === 'manifest' && (sendEndless(res, { headers: { 'content-length': String(5 << 20) }, cap: 5 << 20 }), true)),
      code: 4,
      message: /hostile\/app:1: manifest of 5242880 bytes is larger than lading accepts \(4 MiB\)/,
    },
    {
      name: 'oversized manifest without Content-Length',
      handler: except(image, (res, t) => t.kind === 'manifest' && (sendEndless(res, { cap: 5 << 20 }), true)),
      code: 4,
      message: /hostile\/app:1: manifest of more than 4 MiB/,
    },
    {
      name: 'manifest nested 100,000 deep',
      handler: except(image, (res, t) => t.kind === 'manifest' && (sendJson(res, 200, Buffer.from('['.repeat(100_000))), true)),
      code: 4,
      message: /hostile\/app:1: the manifest is not acceptable JSON \(nested deeper than 64 levels\)/,
    },
    {
      name: 'endless error body with escapes on a 500',
      handler: except(image, (res, t) => t.kind === 'manifest' && (sendEndless(res, { status: 500, chunk: ESCAPES }), true)),
      code: 4,
      message: /hostile\/app:1: registry answered 500: \\e\[2J\\e\]0;pwned\\x07 EVIL/,
    },
    {
      name: 'endless error body on a 404',
      handler: except(image, (res, t) => t.kind === 'manifest' && (sendEndless(res, { status: 404 }), true)),
      code: 4,
      message: /hostile\/app:1: manifest not found \(404\)/,
    },
    {
      name: 'endless token body',
      handler: (req, res, t) => {
        if (t.kind === 'other') return sendEndless(res, { chunk: Buffer.from('{"token":"' + 'a'.repeat(65536)) });
        if (!req.headers.authorization && t.kind !== 'base') {
          return sendJson(res, 401, {}, { 'www-authenticate': `Bearer realm="http://${req.headers.host}/token",service="hostile"` });
        }
        serveImage(image)(req, res, t, 'main');
      },
      code: 4,
      message: /hostile\/app: the token service http:\/\/127\.0\.0\.1:\d+ sent more than 1 MiB/,
    },
    ...[
      ['no size', undefined],
      ['a negative size', -1],
      ['a string size', 'NaN'],
      ['a fractional size', 1.5],
      ['a size beyond 2^53', 2 ** 60],
    ].map(([what, size]) => ({
      name: `layer with ${what}`,
      handler: serveImage(manifestOf((real) => [{ ...real, size }])),
      code: 4,
      message: /hostile\/app:1: the registry sent an invalid manifest: manifest\.layers\[0\]\.size: .* is not a size in bytes/,
    })),
    {
      name: 'layer with a bare NaN size (not JSON)',
      handler: except(image, (res, t) => t.kind === 'manifest' && (sendJson(res, 200, Buffer.from(image.manifest.toString().replace(/"size":(\d+)\}\]/, '"size":NaN}]'))), true)),
      code: 4,
      message: /hostile\/app:1: the manifest is not acceptable JSON \(not valid JSON\)/,
    },
    {
      name: 'config without a size',
      handler: (req, res, t) => {
        const bad = JSON.parse(image.manifest.toString());
        delete bad.config.size;
        if (t.kind === 'manifest') return sendJson(res, 200, bad);
        serveImage(image)(req, res, t, 'main');
      },
      code: 4,
      message: /hostile\/app:1: the registry sent an invalid manifest: manifest\.config\.size: undefined is not a size in bytes/,
    },
    {
      name: 'index entry without a size',
      handler: except(image, (res, t) =>
        t.kind === 'manifest' && t.reference === '1' &&
        (sendJson(res, 200, { schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: image.manifestDigest, platform: { os: 'linux', architecture: 'amd64' } }] }), true),
      ),
      code: 4,
      message: /hostile\/app:1: the registry sent an invalid index: index\.manifests\[0\]\.size: undefined is not a size in bytes/,
    },
    {
      name: 'layer digest with uppercase hex',
      handler: serveImage(manifestOf((real) => [{ ...real, digest: (real.digest as string).toUpperCase().replace('SHA256', 'sha256') }])),
      code: 4,
      message: /hostile\/app:1: the registry sent an invalid manifest: manifest\.layers\[0\]\.digest: "sha256:[0-9A-F]{64}" is not sha256: followed by 64 lowercase hex digits/,
    },
    {
      name: 'blob longer than its size',
      handler: except(image, (res, t) => t.kind === 'blob' && t.digest === image.layerDigest && (sendJson(res, 200, Buffer.concat([image.layer, Buffer.alloc(10)])), true)),
      code: 6,
      message: new RegExp(`hostile/app:1: blob ${image.layerDigest}: content does not match its descriptor \\(size \\d+ bytes, expected ${image.layer.length}\\)`),
    },
    {
      name: 'blob shorter than its size (honest Content-Length)',
      handler: except(image, (res, t) => t.kind === 'blob' && t.digest === image.layerDigest && (sendJson(res, 200, image.layer.subarray(0, 100)), true)),
      code: 6,
      message: new RegExp(`hostile/app:1: blob ${image.layerDigest}: content does not match its descriptor \\(size 100 bytes, expected ${image.layer.length}\\)`),
    },
    {
      name: 'blob shorter than its Content-Length (connection closed)',
      handler: except(image, (res, t) => {
        if (t.kind !== 'blob' || t.digest !== image.layerDigest) return false;
        res.writeHead(200, { 'content-length': String(image.layer.length) });
        res.write(image.layer.subarray(0, 100), () => res.destroy());
        return true;
      }),
      code: 4,
      message: new RegExp(`hostile/app:1: blob ${image.layerDigest}: the download broke off 3 times`),
    },
  ];
  for (const c of cases) {
    test(c.name, async (t) => {
      const { registry, host } = await startWith(c.handler);
      t.after(() => registry.close());
      const r = await create(`${host}/hostile/app:1`);
      t.diagnostic(assertRefused(r, c.code, c.message));
      assert.deepEqual((await readdir(r.dir)).filter((f) => f !== 'cache'), ['lading.yaml'], 'no bundle, no temporary file');
    });
  }

  test('a layer digest that climbs out of the cache is refused before any blob request or write', async (t) => {
    const { registry, host } = await startWith(serveImage(manifestOf((real) => [{ ...real, digest: 'sha256:../../../tmp/x' }])));
    t.after(() => registry.close());
    const dir = await mkdtemp(join(work, 'traversal-'));
    const runDir = join(dir, 'a', 'b');
    await mkdir(runDir, { recursive: true });
    // The cache is runDir/cache: its sha256/../../../tmp/x would be dir/a/tmp/x.
    const r = await create(`${host}/hostile/app:1`, { dir: runDir });
    t.diagnostic(assertRefused(r, 4, /hostile\/app:1: the registry sent an invalid manifest: manifest\.layers\[0\]\.digest: "sha256:\.\.\/\.\.\/\.\.\/tmp\/x" is not sha256/));
    assert.deepEqual(registry.seen.filter((s) => s.path.includes('/blobs/')), [], 'no blob requested');
    await assert.rejects(stat(join(dir, 'a', 'tmp')), { code: 'ENOENT' });
    await assert.rejects(stat(join(runDir, 'cache', 'sha256', '..', '..', '..', 'tmp', 'x')), { code: 'ENOENT' });
  });

  test('a blob trickling one byte per 100 ms is cut at its deadline', async (t) => {
    const { registry, host } = await startWith(
      except(image, (res, target) => target.kind === 'blob' && target.digest === image.layerDigest && (registry.trickle(res, image.layer, 100), true)),
    );
    t.after(() => registry.close());
    const r = await create(`${host}/hostile/app:1`);
    t.diagnostic(assertRefused(r, 4, new RegExp(`hostile/app@${image.layerDigest}: cut off after 10\\.\\d s with \\d+ of ${image.layer.length} bytes, slower than the minimum 64 KiB/s`)));
  });
});

describe('what earlier runs left behind', () => {
  test('a cache file with the right size and wrong bytes is evicted and fetched again', async (t) => {
    const { registry, host } = await startWith(serveImage(image));
    t.after(() => registry.close());
    const dir = await mkdtemp(join(work, 'corrupt-'));
    const first = await createIn(dir, `${host}/hostile/app:1`);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const cached = join(dir, 'cache', 'sha256', image.layerDigest.slice('sha256:'.length));
    const bytes = await readFile(cached);
    bytes[100]! ^= 0xff;
    await writeFile(cached, bytes);
    await rm(join(dir, 'out.tar'));

    const second = await createIn(dir, `${host}/hostile/app:1`, { args: ['--json'] });
    assert.equal(second.code, 0, second.stdout + second.stderr);
    assert.equal(registry.seen.filter((s) => s.path.endsWith(image.layerDigest)).length, 2, 'the layer was fetched again');
    assert.equal(JSON.parse(second.stdout).summary.downloadedBytes, image.layer.length, 'only the evicted layer, counted once');
    assert.ok((await readFile(cached)).equals(image.layer), 'the cache holds the right bytes again');
    const verify = await runLading(['verify', join(dir, 'out.tar')]);
    assert.equal(verify.code, 0, verify.stdout + verify.stderr);
  });

  test('partial files of killed runs are removed: dead or day-old owners, lading\'s own names only', async (t) => {
    const { registry, host } = await startWith(serveImage(image));
    t.after(() => registry.close());
    const dead = spawnSync('true').pid!;
    const alive = process.pid;
    const dir = await mkdtemp(join(work, 'leftovers-'));
    const sha = join(dir, 'cache', 'sha256');
    await mkdir(sha, { recursive: true });
    const files = {
      removed: [`sha256/${'a'.repeat(64)}.part-${dead}-0123abcd`, `sha256/${'b'.repeat(64)}.part-${alive}-0123abcd`, `.out.tar.partial-${dead}`],
      kept: [
        `sha256/${'c'.repeat(64)}.part-${alive}-0123abcd`,
        `sha256/${'a'.repeat(64)}.part-${dead}-xyz`,
        `sha256/notes.txt`,
        `.out.tar.partial-${alive}`,
        `.other.tar.partial-${dead}`,
        `.out.tar.partial-${dead}.bak`,
      ],
    };
    const at = (name: string) => (name.startsWith('sha256/') ? join(dir, 'cache', name) : join(dir, name));
    for (const name of [...files.removed, ...files.kept]) await writeFile(at(name), 'left over');
    const twoDaysAgo = new Date(Date.now() - 2 * 86_400_000);
    await utimes(at(files.removed[1]!), twoDaysAgo, twoDaysAgo);

    const r = await createIn(dir, `${host}/hostile/app:1`);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    for (const name of files.removed) await assert.rejects(stat(at(name)), { code: 'ENOENT' }, `${name} removed`);
    for (const name of files.kept) await stat(at(name));
  });
});
