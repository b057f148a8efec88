/**
 * The referrers API (distribution-spec 1.1): the manifests of a repository
 * whose `subject` is a digest. Bundles rarely hold any (lading create pulls
 * images, not the artifacts attached to them), but the answer is computed
 * from what the bundle holds, once per repository, from verified manifests.
 */
import { MANIFEST_LIMITS, parseLimited } from '../bundle/documents.js';
import type { Descriptor } from '../oci/types.js';
import { readVerified, type BlobEvents } from './blobs.js';
import type { Catalog, Repository } from './catalog.js';

const cache = new WeakMap<Repository, Promise<Map<string, Descriptor[]>>>();

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

async function scan(catalog: Catalog, repo: Repository, events: BlobEvents): Promise<Map<string, Descriptor[]>> {
  const bySubject = new Map<string, Descriptor[]>();
  for (const digest of repo.digests) {
    const blob = catalog.blobs.get(digest);
    if (!blob?.manifestType) continue;
    const bytes = await readVerified(blob, events);
    if (!bytes) continue;
    const { value } = parseLimited(bytes, MANIFEST_LIMITS);
    if (!isObject(value) || !isObject(value.subject) || typeof value.subject.digest !== 'string') continue;
    const config = isObject(value.config) ? value.config : undefined;
    const artifactType = typeof value.artifactType === 'string' ? value.artifactType : typeof config?.mediaType === 'string' ? config.mediaType : undefined;
    const descriptor: Descriptor = {
      mediaType: blob.manifestType,
      digest,
      size: blob.size,
      ...(artifactType ? { artifactType } : {}),
      ...(isObject(value.annotations) ? { annotations: value.annotations as Record<string, string> } : {}),
    };
    const list = bySubject.get(value.subject.digest) ?? [];
    list.push(descriptor);
    bySubject.set(value.subject.digest, list);
  }
  return bySubject;
}

/** The descriptors referring to `subject` in a repository (none for an unknown one), optionally of one artifact type. */
export async function referrersOf(catalog: Catalog, repo: Repository | undefined, subject: string, events: BlobEvents, artifactType?: string): Promise<Descriptor[]> {
  if (!repo) return [];
  let scanned = cache.get(repo);
  if (!scanned) {
    scanned = scan(catalog, repo, events);
    cache.set(repo, scanned);
    // An unreadable bundle fails this request; the next one tries again.
    scanned.catch(() => cache.delete(repo));
  }
  const all = (await scanned).get(subject) ?? [];
  return artifactType === undefined ? all : all.filter((d) => d.artifactType === artifactType);
}
