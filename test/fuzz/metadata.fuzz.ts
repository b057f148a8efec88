/**
 * Fuzzes what lading reads from lading.json and index.json: a valid corpus
 * bundle whose documents get random edits (any JSON value at any path, hostile
 * strings, deletions, flipped bytes in the text). Opening it either yields a
 * description whose every name, digest and mirror passes the rules, or an
 * AbortError with exit 7; verify either reports or refuses the same way;
 * never another error, never slowly.
 * `npm test` runs it for a few seconds (test/integration/fuzz-metadata.test.ts), `npm run fuzz` long.
 */
import fc from 'fast-check';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AbortError } from '../../src/core/errors.js';
import { readDescription } from '../../src/core/bundle/documents.js';
import { BundleReader } from '../../src/core/bundle/reader.js';
import { verifyBundle } from '../../src/core/bundle/verify.js';
import { formatReference, parseReference } from '../../src/core/oci/reference.js';
import { SHA256_DIGEST, isRegistryHost, mirrorEndpointProblem } from '../../src/core/oci/validate.js';
import { goodBundle, writeBundle, type BundleParts, type Json } from '../support/hostile-bundle.js';
import type { FuzzOptions, FuzzReport } from './tar-walk.fuzz.js';


type PathStep = string | number;

/** Every path to a value in a JSON document. */
function paths(value: Json, prefix: PathStep[] = []): PathStep[][] {
  const out: PathStep[][] = [prefix];
  if (Array.isArray(value)) value.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) out.push(...paths(v, [...prefix, k]));
  return out;
}

function setAt(doc: Json, path: PathStep[], value: unknown, remove: boolean): Json {
  if (path.length === 0) return value;
  let node = doc;
  for (const step of path.slice(0, -1)) node = node[step];
  const last = path[path.length - 1]!;
  if (remove && Array.isArray(node)) node.splice(last as number, 1);
  else if (remove) delete node[last];
  else node[last] = value;
  return doc;
}

const hostileString = fc.oneof(
  fc.constantFrom('../../../../tmp/x', 'x\n[host."evil"]', 'x\n/etc/shadow\ny', '\u001b[2J', 'sha256:../../x', `sha256:${'A'.repeat(64)}`, '', 'linux/amd64\n', 'https://u:p@m.example', 'file:///etc/passwd', '\u202eevil'),
  fc.string({ unit: 'binary', maxLength: 40 }),
);
const anyValue = fc.oneof(fc.jsonValue({ maxDepth: 3 }), hostileString, fc.constantFrom(-1, 1.5, 2 ** 60, null, true, [], {}));

const edit = fc.record({ which: fc.constantFrom('metadata', 'index'), pick: fc.nat(), value: anyValue, remove: fc.boolean() });
const flips = fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 3 });
const plan = fc.record({ edits: fc.array(edit, { minLength: 1, maxLength: 3 }), flips, flipIn: fc.constantFrom('metadata', 'index') });
type Plan = typeof plan extends fc.Arbitrary<infer T> ? T : never;

function build(p: Plan): BundleParts {
  const parts = goodBundle();
  for (const e of p.edits) {
    const key = e.which === 'metadata' ? 'metadata' : 'index';
    const all = paths(parts[key]);
    parts[key] = setAt(parts[key], all[e.pick % all.length]!, e.value, e.remove);
  }
  if (p.flips.length) {
    const text = Buffer.from(JSON.stringify(p.flipIn === 'metadata' ? parts.metadata : parts.index));
    for (const f of p.flips) text[f.at % text.length] = f.byte;
    if (p.flipIn === 'metadata') parts.rawMetadata = text;
    else parts.rawIndex = text;
  }
  return parts;
}

const refusal = (error: unknown) => error instanceof AbortError && error.exitCode === 7;

/** What an accepted description must satisfy: everything a node path, a file or a terminal could see was checked. */
function assertSafe(description: Awaited<ReturnType<typeof readDescription>>): void {
  const { metadata } = description;
  for (const image of metadata.images) {
    if (formatReference(parseReference(image.source)) !== image.name) throw new Error(`accepted an image name that is not its source: ${image.name}`);
    for (const ref of [image.root, ...image.platforms.flatMap((p) => [p.manifest, p.config, ...p.layers])]) {
      if (!SHA256_DIGEST.test(ref.digest) || !Number.isSafeInteger(ref.size) || ref.size < 0) throw new Error(`accepted a bad descriptor ${JSON.stringify(ref)}`);
    }
  }
  for (const m of metadata.mirrors ?? []) {
    if (!isRegistryHost(m.registry) || m.endpoints.some((e) => mirrorEndpointProblem(e))) throw new Error(`accepted a bad mirror ${JSON.stringify(m)}`);
  }
}

export async function fuzz({ seconds, seed }: FuzzOptions): Promise<FuzzReport> {
  const report = { runs: 0, accepted: 0 };
  const dir = await mkdtemp(join(tmpdir(), 'lading-fuzz-metadata-'));
  try {
    await fc.assert(
      fc.asyncProperty(plan, async (p) => {
        report.runs++;
        const path = join(dir, 'bundle.tar');
        await writeBundle(path, build(p));
        const reader = await BundleReader.open(path);
        try {
          const started = Date.now();
          const description = await readDescription(reader).catch((error: unknown) => {
            if (refusal(error)) return undefined;
            throw error;
          });
          if (description) {
            report.accepted++;
            assertSafe(description);
          }
          const verified = await verifyBundle(path).catch((error: unknown) => {
            if (refusal(error)) return undefined;
            throw error;
          });
          if (verified && description === undefined) throw new Error('verify accepted what the reader refused');
          if (Date.now() - started > 5000) throw new Error(`took ${Date.now() - started} ms`);
        } finally {
          await reader.close();
        }
      }),
      { seed, numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false },
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return report;
}
