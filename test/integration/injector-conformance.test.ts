/**
 * The ConfigMap injector against the OCI distribution-spec conformance suites' pull workflow (built from
 * their Go module by test/conformance/build; see test/support/conformance.ts): the current suite with
 * read-only inputs and the v1.1 Ginkgo suite with OCI_TEST_PULL, each against an injector serving a payload
 * the test makes from the demo seed bundle for linux/amd64: demo/web (an OCI index) and demo/tools (a Docker
 * manifest list), run as nobody from read-only mounted-ConfigMap directories.
 */
import { after, before, describe, test } from 'node:test';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureSeedBundle, SEED_REGISTRY } from '../../fixtures/demo/seed.js';
import type { BuiltImage } from '../support/images.js';
import { assertCurrentSuitePasses, assertLegacySuitePasses, buildConformanceSuites, type PullContent } from '../support/conformance.js';
import { buildInjector, makeReadOnly, startInjector, writePayload, type RunningInjector } from '../support/injector.js';

const PLATFORM = 'linux/amd64';
let work: string;
let suites: Record<string, string>;
let images: BuiltImage[];
let injector: RunningInjector;

before(async () => {
  suites = await buildConformanceSuites();
  const built = (await buildInjector())[PLATFORM]!;
  work = await mkdtemp(join(tmpdir(), 'lading-injector-conformance-'));
  await chmod(work, 0o755);
  const seed = await ensureSeedBundle(join(work, 'seed'));
  images = seed.images;
  const root = join(work, 'root');
  const { dirs } = await writePayload(seed.path, [`${SEED_REGISTRY}/demo/web:1.0`, `${SEED_REGISTRY}/demo/tools:2.1`], PLATFORM, built, root);
  await makeReadOnly(root);
  injector = await startInjector(built.path, dirs, root);
});

after(async () => {
  await injector?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** What the payload serves of one image: its root and linux/amd64 manifests, that platform's config and layers. */
function content(repository: string): PullContent & { blob: string } {
  const img = images.find((i) => i.repository === repository)!;
  const platform = img.platforms.find((p) => p.platform === PLATFORM)!;
  return {
    host: injector.host,
    repository,
    repository2: `${SEED_REGISTRY}/${repository}`,
    tag: img.tag,
    digest: img.digest,
    manifests: [img.digest, platform.manifest.digest],
    blobs: [platform.config.digest, ...platform.layers.map((l) => l.digest)],
    blob: platform.config.digest,
  };
}

describe('OCI distribution-spec conformance, pull, against the injector', () => {
  for (const repository of ['demo/web', 'demo/tools']) {
    test(`the current suite, read-only inputs: ${repository}`, async (t) => {
      await assertCurrentSuitePasses(t, suites.current!, work, content(repository));
    });

    test(`the v1.1 suite (Ginkgo), OCI_TEST_PULL with the content named: ${repository}`, async (t) => {
      await assertLegacySuitePasses(t, suites.legacy!, work, content(repository));
    });
  }
});
