/**
 * `lading serve` against the OCI distribution-spec conformance suite's pull
 * workflow (github.com/opencontainers/distribution-spec/conformance), built
 * from its Go module by test/conformance/build (cached per version under
 * ~/.cache/lading/conformance/): the current suite (read-only inputs) and the
 * v1.1 Ginkgo suite (OCI_TEST_PULL with pre-populated content), each against a
 * bundle holding an OCI index (demo/web) and a Docker manifest list (demo/tools).
 */
import { after, before, describe, test } from 'node:test';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BuiltImage } from '../support/images.js';
import { serve, type Serving } from '../support/serve.js';
import { assertCurrentSuitePasses, assertLegacySuitePasses, buildConformanceSuites } from '../support/conformance.js';
import { ensureSeedBundle } from '../../fixtures/demo/seed.js';

let work: string;
let suites: Record<string, string>;
let images: BuiltImage[];
let server: Serving;

before(async () => {
  suites = await buildConformanceSuites();
  work = await mkdtemp(join(tmpdir(), 'lading-conformance-'));
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
      await assertCurrentSuitePasses(t, suites.current!, work, { host: server.host, repository, repository2: 'demo/base', tag: img.tag, digest: img.digest, ...contentOf(img) });
    });

    test(`the v1.1 suite (Ginkgo), OCI_TEST_PULL with the content named: ${repository}`, async (t) => {
      const img = image(repository);
      const content = { host: server.host, repository, repository2: 'demo/base', tag: img.tag, digest: img.digest, ...contentOf(img) };
      await assertLegacySuitePasses(t, suites.legacy!, work, { ...content, blob: img.platforms[0]!.config.digest });
    });
  }
});
