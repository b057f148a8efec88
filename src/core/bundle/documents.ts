/**
 * The JSON documents of a bundle, read with limits on bytes, values and
 * nesting, and checked before use: lading.json and index.json (described
 * together, so no command sees one without the other), and the manifests,
 * indexes and configs that verify reads from blobs. Every refusal names the
 * file or blob and the field.
 */
import { AbortError, ExitCode } from '../errors.js';
import { JsonLimitError, parseBoundedJson, type JsonLimits } from '../util/bounded-json.js';
import { Problems } from '../oci/validate.js';
import type { ImageIndex } from '../oci/types.js';
import { METADATA_FILE, OCI_INDEX_FILE, type BundleMetadata } from './layout.js';
import { checkLayoutIndex, checkMetadata } from './metadata-check.js';
import type { BundleReader } from './reader.js';

/** lading.json and index.json: a bundle of 100,000 images fits, a pile of empty objects does not. */
export const DESCRIPTION_LIMITS: JsonLimits = { maxBytes: 64 << 20, maxValues: 4_000_000, maxDepth: 16 };
/** Manifests and indexes, as registries bound them. */
export const MANIFEST_LIMITS: JsonLimits = { maxBytes: 4 << 20, maxValues: 200_000, maxDepth: 32 };
/** Image configs carry history and labels: larger, still bounded. */
export const CONFIG_LIMITS: JsonLimits = { maxBytes: 8 << 20, maxValues: 400_000, maxDepth: 32 };

export interface BundleDescription {
  metadata: BundleMetadata;
  index: ImageIndex;
}

function refused(reader: BundleReader, what: string, problems: string[], hint?: string): AbortError {
  const shown = problems.slice(0, 5).join('; ') + (problems.length > 5 ? `; and ${problems.length - 5} more` : '');
  return new AbortError(`${reader.path}: ${what}: ${shown}`, {
    exitCode: ExitCode.bundle,
    hint: hint ?? 'The bundle was altered or damaged after lading create wrote it: nothing was used from it. Copy it again and compare its sha256.',
  });
}

/** Parses an entry under limits; the reason when it cannot be, as a problem line. */
export function parseLimited(bytes: Buffer, limits: JsonLimits): { value?: unknown; problem?: string } {
  try {
    return { value: parseBoundedJson(bytes, limits) };
  } catch (error) {
    if (error instanceof JsonLimitError) return { problem: `too large to read (${error.reason})` };
    if (error instanceof SyntaxError) return { problem: 'not valid JSON' };
    // JSON.parse can still run out of stack on input the scan let through.
    if (error instanceof RangeError) return { problem: 'too deeply nested' };
    throw error;
  }
}

async function readDocument(reader: BundleReader, name: string): Promise<unknown> {
  if (!reader.has(name)) {
    throw refused(reader, `has no ${name}`, [name === METADATA_FILE ? 'it is an OCI archive, but not one written by lading' : 'it is not an OCI image layout'], 'Is this a bundle written by lading create?');
  }
  const { value, problem } = parseLimited(await reader.readEntry(name, DESCRIPTION_LIMITS.maxBytes), DESCRIPTION_LIMITS);
  if (problem) throw refused(reader, name, [problem]);
  return value;
}

/** lading.json and index.json, each checked, and checked against each other. */
export async function readDescription(reader: BundleReader): Promise<BundleDescription> {
  const problems = new Problems();
  const metadata = checkMetadata(await readDocument(reader, METADATA_FILE), problems);
  if (!metadata) {
    const schema = problems.list.find((p) => p.startsWith('schema:'));
    throw refused(reader, METADATA_FILE, problems.list, schema ? 'Use the lading version that wrote this bundle.' : undefined);
  }
  const index = checkLayoutIndex(await readDocument(reader, OCI_INDEX_FILE), metadata, problems);
  if (!index) throw refused(reader, `${OCI_INDEX_FILE} and ${METADATA_FILE} disagree or are invalid`, problems.list);
  return { metadata, index };
}
