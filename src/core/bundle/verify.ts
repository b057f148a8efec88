/**
 * Proves a bundle whole: every blob is streamed and hashed against its name,
 * every index entry and manifest resolves to blobs that are present with the
 * sizes their descriptors claim, and lading.json agrees with the manifests.
 */
import { hashBlobs, type BlobToHash } from './blob-hasher.js';
import { printable } from '../util/printable.js';
import { ImageClaims, type PresenceCheck } from './claims.js';
import { parseLimited, readDescription } from './documents.js';
import { BLOBS_DIR, OCI_LAYOUT_FILE, type BundleMetadata } from './layout.js';
import { BundleReader } from './reader.js';
import { identityNow, noteVerified, verifiedEarlier } from './verified-record.js';

export interface VerifyProblem {
  /** The image this is about, when known. */
  image?: string;
  /** The blob digest this is about, when known. */
  blob?: string;
  message: string;
}

export interface VerifyReport {
  ok: boolean;
  bundle: string;
  blobsChecked: number;
  bytesChecked: number;
  images: number;
  problems: VerifyProblem[];
  /** When the blobs' bytes were hashed whole, in an earlier run, of this very file (see verified-record.ts): not hashed again now. */
  hashedEarlier?: string;
  /** A delta bundle: the layers it leaves out, which the target must already hold (from its base). */
  expectedOnTarget?: Array<{ digest: string; size: number }>;
  base?: BundleMetadata['base'];
}

export interface VerifyOptions {
  onBytes?: (bytes: number) => void;
  /** Total bytes to hash is known once the headers are read. */
  onStart?: (totalBytes: number) => void;
  signal?: AbortSignal;
  /**
   * Notes of bundles hashed whole (verified-record.ts): `note` writes one when this run hashed every blob and
   * all held; `trust` also skips the hashing when the file is exactly as its note says. Documents and
   * references are checked in any case.
   */
  notes?: { note: boolean; trust: boolean; dir?: string };
}

export async function verifyBundle(path: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const { notes } = options;
  const earlier = notes?.trust ? await verifiedEarlier(path, notes.dir) : undefined;
  const before = notes?.note && !earlier ? await identityNow(path) : undefined;
  const reader = await BundleReader.open(path);
  try {
    const report = await verifyOpen(reader, options, earlier);
    if (report.ok && notes?.note && !earlier) await noteVerified(path, before, notes.dir);
    return report;
  } finally {
    await reader.close();
  }
}

async function verifyOpen(reader: BundleReader, options: VerifyOptions, hashedEarlier: Date | undefined): Promise<VerifyReport> {
  const problems: VerifyProblem[] = [];
  // What the bundle says it holds is checked before any blob is hashed: a lie there is refused at once.
  const { metadata } = await readDescription(reader);
  const blobs = [...reader.entries.values()].filter((e) => e.name.startsWith(BLOBS_DIR)).sort((a, b) => a.offset - b.offset);
  options.onStart?.(hashedEarlier ? 0 : blobs.reduce((sum, e) => sum + e.size, 0));

  // 1. Every blob's bytes match its name (read in file order, on two cores where there are two).
  const broken = new Set<string>();
  const toHash: BlobToHash[] = [];
  for (const entry of blobs) {
    const digest = `sha256:${entry.name.slice(BLOBS_DIR.length)}`;
    if (!/^sha256:[a-f0-9]{64}$/.test(digest)) problems.push({ blob: entry.name, message: `${printable(entry.name)}: not a sha256 blob name` });
    else toHash.push({ entry, digest });
  }
  const hashed = hashedEarlier ? new Map(toHash.map((blob) => [blob, true])) : await hashBlobs(reader, toHash, options);
  let bytesChecked = 0;
  for (const blob of toHash) {
    if (!hashedEarlier) bytesChecked += blob.entry.size;
    if (hashed.get(blob)) continue;
    broken.add(blob.digest);
    const parts = await reader.damagedParts(blob.entry);
    problems.push({ blob: blob.digest, message: `blob ${blob.digest}${parts.length ? ` (damaged part ${parts.join(', ')})` : ''}: content does not match its digest` });
  }

  // 2. The layout's own files, then lading.json held to index.json and to the manifests.
  if (!reader.has(OCI_LAYOUT_FILE)) problems.push({ message: 'oci-layout file is missing' });
  else {
    const { value } = parseLimited(await reader.readEntry(OCI_LAYOUT_FILE, 4096), { maxBytes: 4096, maxValues: 16, maxDepth: 2 });
    const version = (value as { imageLayoutVersion?: unknown } | undefined)?.imageLayoutVersion;
    if (version !== '1.0.0') problems.push({ message: `oci-layout has version ${printable(String(version))}` });
  }

  const omitted = new Set((metadata.omitted ?? []).map((o) => o.digest));
  const present: PresenceCheck = (d, image, what) => {
    const entry = reader.blobEntry(d.digest);
    // A layer a delta leaves out on purpose is the target's to hold (install checks it there).
    if (!entry && what === 'layer' && omitted.has(d.digest)) return true;
    if (!entry) {
      problems.push({ image, blob: d.digest, message: `${image}: ${what} ${d.digest} is missing` });
      return false;
    }
    if (entry.size !== d.size) {
      problems.push({ image, blob: d.digest, message: `${image}: ${what} ${d.digest} is ${entry.size} bytes, expected ${d.size}` });
      return false;
    }
    if (broken.has(d.digest)) {
      problems.push({ image, blob: d.digest, message: `${image}: ${what} ${d.digest} is corrupted` });
      return false;
    }
    return true;
  };

  // 3. Each image as lading.json claims it, against the blobs themselves.
  const claims = new ImageClaims(reader, present);
  for (const image of metadata.images) await claims.check(image);
  problems.push(...claims.problems);

  return {
    ok: problems.length === 0,
    bundle: reader.path,
    blobsChecked: blobs.length,
    bytesChecked,
    images: metadata.images.length,
    problems,
    ...(hashedEarlier ? { hashedEarlier: hashedEarlier.toISOString() } : {}),
    ...(metadata.base ? { base: metadata.base, expectedOnTarget: metadata.omitted ?? [] } : {}),
  };
}
