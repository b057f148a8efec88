/**
 * What the injection benches share: one image (a static binary that waits, plus one random layer of
 * `mib` MiB) pushed to a local registry, a bundle of it made by `lading create`, its node archive for
 * linux/amd64 as a file (what `ctr import` on the node reads), and every name it takes on a containerd
 * node, so a bench can remove it again.
 */
import { createWriteStream, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { startRegistry } from '../test/support/registry.js';
import { pushImage } from '../test/support/images.js';
import { LADING_BIN, specText } from '../test/support/lading.js';
import { BundleReader } from '../src/core/bundle/reader.js';
import { readDescription } from '../src/core/bundle/documents.js';
import { digestName, planNodeArchive, streamNodeArchive, type NodeArchivePlan } from '../src/core/bundle/node-archive.js';
import { exec, nodeRun, timed } from './cluster.js';

export interface InjectImage {
  ref: string;
  bundle: string;
  /** The node archive for linux/amd64, as a file. */
  archive: string;
  plan: NodeArchivePlan;
  /** Removes the image from the containerd node under every name it has there. */
  clean(): Promise<void>;
}

export async function makeInjectImage(work: string, mib: number): Promise<InjectImage> {
  const binary = join(work, 'app');
  await writeFile(`${binary}.c`, '#include <unistd.h>\nint main(void) { for (;;) pause(); }\n');
  await exec('gcc', ['-static', '-Os', '-o', binary, `${binary}.c`]);
  const registry = await startRegistry();
  const bundle = join(work, 'bundle.tar');
  let ref: string;
  try {
    ref = (
      await pushImage(registry, {
        repository: 'bench/inject',
        tag: '1.0',
        layers: [{ files: { app: { content: readFileSync(binary), mode: 0o755 } } }, { randomBytes: mib << 20, seed: 'bench-inject' }],
        config: { Entrypoint: ['/app'] },
      })
    ).ref;
    const spec = join(work, 'lading.yaml');
    await writeFile(spec, specText([ref], ['linux/amd64']));
    await timed(LADING_BIN, ['create', spec, '-o', bundle, '--no-tui'], { env: { ...process.env, CI: '1', LADING_CACHE_DIR: join(work, 'cache') } });
  } finally {
    await registry.stop();
  }
  const reader = await BundleReader.open(bundle);
  const { metadata } = await readDescription(reader);
  const plan = planNodeArchive(metadata.images, 'linux/amd64');
  const archive = join(work, 'node-archive.tar');
  await pipeline(streamNodeArchive(reader, plan), createWriteStream(archive));
  await reader.close();
  // every name the image has on the node: containerd's CRI also names it by its config digest (the image
  // ID), and content under any name left there would make the next import find its layers present
  const image = metadata.images[0]!;
  const names = [ref, digestName(image)!, ...new Set(image.platforms.map((p) => p.config.digest))];
  const clean = async () => {
    await nodeRun('containerd', ['ctr', '-n', 'k8s.io', 'images', 'rm', '--sync', ...names]).catch(() => undefined);
    await exec('sync');
  };
  return { ref, bundle, archive, plan, clean };
}
