/**
 * `lading serve` against the OCI distribution-spec conformance suite's pull
 * workflow (github.com/opencontainers/distribution-spec/conformance), built
 * from its Go module by test/conformance/build (cached per version under
 * ~/.cache/lading/conformance/): the current suite (read-only inputs) and the
 * v1.1 Ginkgo suite (OCI_TEST_PULL with pre-populated content), each against a
 * bundle holding an OCI index (demo/web) and a Docker manifest list (demo/tools).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { BuiltImage } from '../support/images.js';
import { serve, type Serving } from '../support/serve.js';
import { requireTool } from '../support/tools.js';
import { ensureSeedBundle } from '../../fixtures/demo/seed.js';

const run = promisify(execFile);
const BUILD = fileURLToPath(new URL('../conformance/build', import.meta.url));

let work: string;
let suites: Record<string, string>;
let images: BuiltImage[];
let server: Serving;

before(async () => {
  requireTool('go', 'install Go >= 1.24 (https://go.dev/dl/ or `apt-get install golang`); the suite is built from its module through the Go module proxy');
  work = await mkdtemp(join(tmpdir(), 'lading-conformance-'));
  const built = await run('bash', [BUILD], { maxBuffer: 1 << 20, timeout: 15 * 60_000 });
  suites = Object.fromEntries(built.stdout.trim().split('\n').map((line) => line.split(' ') as [string, string]));
  const seed = await ensureSeedBundle(work);
  images = seed.images;
  server = await serve([seed.path]);
});

after(async () => {
  await server?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

function image(repository: string): BuiltImage {
  return images.find((i) => i.repository === repository)!;
}

/** Everything one image has: its root and platform manifests, its configs and layers. */
function contentOf(img: BuiltImage): { manifests: string[]; blobs: string[] } {
  const manifests = [...new Set([img.digest, ...img.platforms.map((p) => p.manifest.digest)])];
  const blobs = [...new Set(img.platforms.flatMap((p) => [p.config.digest, ...p.layers.map((l) => l.digest)]))];
  return { manifests, blobs };
}

describe('OCI distribution-spec conformance, pull', () => {
  for (const repository of ['demo/web', 'demo/tools']) {
    test(`the current suite, read-only inputs: ${repository}`, async (t) => {
      const img = image(repository);
      const { manifests, blobs } = contentOf(img);
      const cwd = await mkdtemp(join(work, 'current-'));
      const env = {
        ...process.env,
        OCI_REGISTRY: server.host,
        OCI_TLS: 'disabled',
        OCI_REPO1: repository,
        OCI_REPO2: 'demo/base',
        OCI_API_PUSH: 'false',
        OCI_API_BLOBS_DELETE: 'false',
        OCI_API_MANIFESTS_DELETE: 'false',
        OCI_API_TAGS_DELETE: 'false',
        OCI_RO_DATA_TAGS: img.tag,
        OCI_RO_DATA_MANIFESTS: manifests.join(' '),
        OCI_RO_DATA_BLOBS: blobs.join(' '),
        OCI_RO_DATA_REFERRERS: img.digest,
        OCI_RESULTS_DIR: join(cwd, 'results'),
      };
      // The suite's exit code is not its verdict (this version also panics writing results.yaml when push is
      // off, after printing its report): the report on stdout is.
      const result = await run(suites.current!, [], { cwd, env, timeout: 5 * 60_000, maxBuffer: 16 << 20 }).catch((error: { stdout?: string; stderr?: string }) => error);
      const stdout = result.stdout ?? '';
      const report = stdout.slice(stdout.indexOf('OCI Conformance Result'));
      t.diagnostic(report.split('\n').slice(0, 7).join(' | '));
      assert.match(report, /^OCI Conformance Result: Pass/, `${report}\n${result.stderr ?? ''}`);
      const count = (label: string) => Number(new RegExp(`${label}\\.+:\\s+(\\d+)`).exec(report)?.[1]);
      assert.equal(count('FAIL'), 0);
      assert.equal(count('Error'), 0);
      assert.ok(count('Pass') >= 10, `passed ${count('Pass')}`);
      for (const api of ['Tag listing', 'Blob get', 'Blob head', 'Manifest get by digest', 'Manifest get by tag', 'Manifest head by digest', 'Manifest head by tag', 'Referrers', 'Ping']) {
        assert.match(report, new RegExp(`${api}\\.+:\\s+Pass`), api);
      }
    });

    test(`the v1.1 suite (Ginkgo), OCI_TEST_PULL with the content named: ${repository}`, async (t) => {
      const img = image(repository);
      const cwd = await mkdtemp(join(work, 'legacy-'));
      const env = {
        ...process.env,
        OCI_ROOT_URL: `http://${server.host}`,
        OCI_NAMESPACE: repository,
        OCI_TEST_PULL: '1',
        OCI_TAG_NAME: img.tag,
        OCI_MANIFEST_DIGEST: img.digest,
        OCI_BLOB_DIGEST: img.platforms[0]!.config.digest,
        OCI_HIDE_SKIPPED_WORKFLOWS: '1',
        OCI_REPORT_DIR: cwd,
      };
      const result = await run(suites.legacy!, ['-test.v'], { cwd, env, timeout: 5 * 60_000, maxBuffer: 16 << 20 }).catch((error: { code?: number; stdout?: string }) => error);
      const junit = await readFile(join(cwd, 'junit.xml'), 'utf8');
      const suite = /<testsuite [^>]*>/.exec(junit)?.[0];
      assert.ok(suite, junit.slice(0, 500));
      const attribute = (name: string) => Number(new RegExp(` ${name}="(\\d+)"`).exec(suite)?.[1]);
      const [tests, failures, errors, skipped] = ['tests', 'failures', 'errors', 'skipped'].map(attribute) as [number, number, number, number];
      t.diagnostic(`${tests - skipped} of ${tests} specs ran: ${tests - skipped - failures - errors} passed, ${failures} failed, ${errors} errors (${skipped} skipped: push, discovery, management)`);
      assert.equal(failures, 0, (result as { stdout?: string }).stdout);
      assert.equal(errors, 0);
      assert.ok(tests - skipped >= 14, `${tests - skipped} specs ran`);
      assert.equal((result as { code?: number }).code ?? 0, 0);
    });
  }
});
