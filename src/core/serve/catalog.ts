/**
 * What `lading serve` answers for: the images of one or more bundles as
 * repositories. Each image `registry/repo:tag` is served as `repo` (so a
 * mirror for its registry finds it) and as `registry/repo` (so one server can
 * carry several registries). Every bundle's lading.json and index.json are
 * checked (readDescription) before anything is served, and every blob they
 * name must be in the tar with its size.
 */
import { AbortError, ExitCode } from '../errors.js';
import { readDescription } from '../bundle/documents.js';
import { BundleReader, type TarEntry } from '../bundle/reader.js';
import type { BundleMetadata } from '../bundle/layout.js';
import { parseReference } from '../oci/reference.js';
import { printable } from '../util/printable.js';

/** One blob in one bundle; its verification state is shared by every repository that serves it. */
export interface Stored {
  digest: string;
  size: number;
  reader: BundleReader;
  entry: TarEntry;
  /** The media type when it is a manifest or index (served from /manifests/). */
  manifestType?: string;
  state: 'unchecked' | 'verified' | 'bad';
  /** A verification running for a range request, shared by concurrent ones. */
  checking?: Promise<boolean>;
}

export interface Repository {
  name: string;
  tags: Map<string, string>;
  /** Every digest an image of this repository reaches in its bundle. */
  digests: Set<string>;
}

export interface ServedImage {
  /** Full normalised reference from lading.json, e.g. docker.io/library/nginx:1.27. */
  name: string;
  bundle: string;
  digest: string;
  platforms: string[];
  /** The repository names it is served under (short first) and its tag, when it has one. */
  repositories: string[];
  tag: string | undefined;
}

export interface Catalog {
  bundles: string[];
  images: ServedImage[];
  repositories: Map<string, Repository>;
  blobs: Map<string, Stored>;
  /** Short names left out because two registries' images collide on them. */
  warnings: string[];
  close(): Promise<void>;
}

const SAFE_MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;

function bundleProblem(path: string, problem: string): AbortError {
  return new AbortError(`${printable(path)}: ${problem}`, {
    exitCode: ExitCode.bundle,
    hint: 'The bundle is incomplete or damaged: run lading verify on it, or copy it again.',
  });
}

/** Records the blobs of one bundle; a digest already held by an earlier bundle keeps that copy. */
function addBlobs(path: string, reader: BundleReader, metadata: BundleMetadata, blobs: Map<string, Stored>, fromBase: Map<string, string>): void {
  const omitted = new Set((metadata.omitted ?? []).map((o) => o.digest));
  const add = (ref: { digest: string; size: number; mediaType: string }, manifest: boolean) => {
    const entry = reader.blobEntry(ref.digest);
    // A delta's layer left out on purpose: another bundle served with it (its base) must hold it.
    if (!entry && omitted.has(ref.digest)) return void fromBase.set(ref.digest, `${printable(path)} is a delta against ${metadata.base!.name} ${metadata.base!.version}`);
    if (!entry) throw bundleProblem(path, `lading.json names blob ${ref.digest}, which the bundle does not hold`);
    if (entry.size !== ref.size) throw bundleProblem(path, `blob ${ref.digest} is ${entry.size} bytes in the tar, lading.json says ${ref.size}`);
    if (manifest && !SAFE_MEDIA_TYPE.test(ref.mediaType)) throw bundleProblem(path, `manifest ${ref.digest} has an unusable media type "${printable(ref.mediaType)}"`);
    const known = blobs.get(ref.digest);
    if (known) {
      if (manifest && !known.manifestType) known.manifestType = ref.mediaType;
      return;
    }
    blobs.set(ref.digest, { digest: ref.digest, size: ref.size, reader, entry, state: 'unchecked', ...(manifest ? { manifestType: ref.mediaType } : {}) });
  };
  for (const image of metadata.images) {
    add(image.root, true);
    for (const p of image.platforms) {
      add(p.manifest, true);
      add(p.config, false);
      for (const layer of p.layers) add(layer, false);
    }
  }
}

function imageDigests(image: BundleMetadata['images'][number]): string[] {
  return [image.root.digest, ...image.platforms.flatMap((p) => [p.manifest.digest, p.config.digest, ...p.layers.map((l) => l.digest)])];
}

/** Opens and checks every bundle, and builds the union of their images; refuses names that disagree. */
export async function openCatalog(paths: string[]): Promise<Catalog> {
  const readers: BundleReader[] = [];
  const close = async () => {
    await Promise.all(readers.map((r) => r.close().catch(() => {})));
  };
  try {
    const blobs = new Map<string, Stored>();
    const fromBase = new Map<string, string>();
    const entries: Array<{ image: ServedImage; digests: string[] }> = [];
    // full name "registry/repo:tag" -> where it came from, to refuse disagreeing bundles
    const fullTags = new Map<string, { bundle: string; digest: string }>();
    for (const path of paths) {
      const reader = await BundleReader.open(path);
      readers.push(reader);
      const { metadata } = await readDescription(reader);
      addBlobs(path, reader, metadata, blobs, fromBase);
      for (const image of metadata.images) {
        const ref = parseReference(image.name);
        const full = `${ref.registry}/${ref.repository}`;
        if (ref.tag !== undefined) {
          const key = `${full}:${ref.tag}`;
          const earlier = fullTags.get(key);
          if (earlier && earlier.digest !== image.root.digest) {
            throw new AbortError(
              `${printable(key)} is ${earlier.digest} in ${printable(earlier.bundle)} but ${image.root.digest} in ${printable(path)}`,
              { exitCode: ExitCode.usage, hint: 'Serve these bundles from two lading serve processes (two ports), or leave one out.' },
            );
          }
          if (earlier) continue;
          fullTags.set(key, { bundle: path, digest: image.root.digest });
        }
        const served: ServedImage = {
          name: image.name,
          bundle: path,
          digest: image.root.digest,
          platforms: image.platforms.map((p) => p.platform),
          repositories: [ref.repository, full],
          tag: ref.tag,
        };
        entries.push({ image: served, digests: imageDigests(image) });
      }
    }
    const lacking = [...fromBase].filter(([digest]) => !blobs.has(digest));
    if (lacking.length) {
      const [digest, delta] = lacking[0]!;
      throw new AbortError(`${delta}: ${lacking.length === 1 ? 'its layer' : `${lacking.length} of its layers, first`} ${digest}, ${lacking.length === 1 ? 'is' : 'are'} in none of the bundles served`, {
        exitCode: ExitCode.bundle,
        hint: 'Serve a delta together with its base: lading serve BASE DELTA.',
      });
    }
    const { repositories, warnings } = buildRepositories(entries);
    return { bundles: paths, images: entries.map((e) => e.image), repositories, blobs, warnings, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * Repositories by name. A short name two registries' images claim with
 * different digests for one tag is not served for either (each keeps its full
 * name), with a warning: which one a client meant cannot be known.
 */
function buildRepositories(entries: Array<{ image: ServedImage; digests: string[] }>): { repositories: Map<string, Repository>; warnings: string[] } {
  const repositories = new Map<string, Repository>();
  const warnings: string[] = [];
  const ambiguous = new Set<string>();
  const shortTags = new Map<string, ServedImage>();
  for (const { image } of entries) {
    if (image.tag === undefined) continue;
    const key = `${image.repositories[0]}:${image.tag}`;
    const other = shortTags.get(key);
    if (other && other.digest !== image.digest) {
      ambiguous.add(key);
      warnings.push(`${printable(key)} is not served: ${printable(other.name)} and ${printable(image.name)} differ; pull them by their full names`);
    } else if (!other) shortTags.set(key, image);
  }
  for (const { image, digests } of entries) {
    const short = image.tag !== undefined && ambiguous.has(`${image.repositories[0]}:${image.tag}`);
    if (short) image.repositories = image.repositories.slice(1);
    for (const name of image.repositories) {
      let repo = repositories.get(name);
      if (!repo) repositories.set(name, (repo = { name, tags: new Map(), digests: new Set() }));
      if (image.tag !== undefined && !repo.tags.has(image.tag)) repo.tags.set(image.tag, image.digest);
      for (const digest of digests) repo.digests.add(digest);
    }
  }
  return { repositories, warnings };
}
