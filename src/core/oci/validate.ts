/**
 * The rules every value lading did not make itself must pass before it is
 * used: the spec loader, the bundle reader and the registry client apply the
 * same ones, so a name that reaches a node path, a config file or a terminal
 * was checked in exactly one way. Checks collect problems as "path: message"
 * lines instead of throwing, so a caller reports all of them at once and
 * picks the exit code that fits its input (spec, bundle, registry).
 */
import { printable } from '../util/printable.js';
import { MediaType } from './media-types.js';
import { InvalidPlatformError, formatPlatform, parsePlatform } from './platform.js';
import type { Descriptor, ImageConfig, ImageIndex, ImageManifest } from './types.js';

export const SHA256_DIGEST = /^sha256:[a-f0-9]{64}$/;
/** A registry as images name it and as a node directory holds it: host or host:port, no IPv6. */
export const REGISTRY_HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*)(?::[0-9]{1,5})?$/;
/** metadata.name: lowercase, safe as part of a file name. */
export const BUNDLE_NAME = /^[a-z0-9](?:[a-z0-9.-]{0,61}[a-z0-9])?$/;
/** metadata.version: what release names use, safe as part of a file name. */
export const BUNDLE_VERSION = /^[A-Za-z0-9](?:[A-Za-z0-9._+~-]{0,126})$/;
/** RFC 6838 type/subtype, with the length limits the OCI spec recommends. */
const MEDIA_TYPE = /^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}\/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$/;
const MAX_ANNOTATIONS = 256;
const MAX_ANNOTATION_BYTES = 4096;

export function isRegistryHost(value: string): boolean {
  if (!REGISTRY_HOST.test(value) || value.length > 255) return false;
  const port = value.includes(':') ? Number(value.slice(value.lastIndexOf(':') + 1)) : 1;
  return port >= 1 && port <= 65535;
}

/** Collects "path: message" problems; `ok` once nothing was found. */
export class Problems {
  readonly list: string[] = [];
  add(path: string, message: string): void {
    if (this.list.length < 50) this.list.push(path ? `${path}: ${message}` : message);
  }
  get ok(): boolean {
    return this.list.length === 0;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const isSize = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const quoted = (v: unknown): string => (typeof v === 'string' ? `"${printable(v.slice(0, 200))}"` : typeof v === 'object' ? (v === null ? 'null' : Array.isArray(v) ? 'a list' : 'an object') : String(v));

/** Why a mirror endpoint URL is refused, or undefined when it is fine. */
export function mirrorEndpointProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'expected an http(s) URL such as https://harbor.site.local:5000';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return `${quoted(value)} is not a URL (expected e.g. https://harbor.site.local:5000)`;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return `${quoted(value)}: only http and https mirrors are supported`;
  if (url.username || url.password) return `${quoted(url.origin)}: credentials in the URL are not allowed; pass them with --mirror-auth or --mirror-auth-secret`;
  if (url.search || url.hash) return `${quoted(value)}: a mirror URL has no query or fragment`;
  if (!isRegistryHost(url.host)) return `${quoted(value)}: ${quoted(url.host)} is not a host name with an optional port`;
  if (!/^(?:\/[A-Za-z0-9._~-]+)*\/?$/.test(url.pathname) || /\/\.\.?(?:\/|$)/.test(value.slice(url.origin.length))) {
    return `${quoted(value)}: the path may hold only letters, digits and . _ ~ -`;
  }
  if (value !== value.trim() || /[\s"\\]/.test(value)) return `${quoted(value)}: no spaces, quotes or backslashes`;
  return undefined;
}

/** The canonical form of an endpoint the checks above accepted (no trailing slash). */
export function normalizeEndpoint(value: string): string {
  return value.replace(/\/+$/, '');
}

export interface CheckedMirror {
  registry: string;
  endpoints: string[];
  skipVerify: boolean;
}

/** One mirror entry as lading.json carries it. */
export function checkMirror(value: unknown, path: string, problems: Problems): CheckedMirror | undefined {
  if (!isObject(value)) return problems.add(path, 'expected {registry, endpoints, skipVerify}'), undefined;
  const { registry, endpoints, skipVerify } = value;
  let ok = true;
  if (typeof registry !== 'string' || !isRegistryHost(registry)) {
    problems.add(`${path}.registry`, `${quoted(registry)} is not a registry host such as docker.io or registry.lab:5000`);
    ok = false;
  }
  if (!Array.isArray(endpoints) || endpoints.length === 0 || endpoints.length > 16) {
    problems.add(`${path}.endpoints`, 'expected 1 to 16 mirror URLs');
    ok = false;
  } else {
    endpoints.forEach((e, i) => {
      const problem = mirrorEndpointProblem(e);
      if (problem) problems.add(`${path}.endpoints[${i}]`, problem), (ok = false);
      else if (normalizeEndpoint(e as string) !== e) problems.add(`${path}.endpoints[${i}]`, `${quoted(e)} ends in "/"`), (ok = false);
    });
  }
  if (typeof skipVerify !== 'boolean') problems.add(`${path}.skipVerify`, 'expected true or false'), (ok = false);
  return ok ? { registry: registry as string, endpoints: endpoints as string[], skipVerify: skipVerify as boolean } : undefined;
}

/** A platform string in lading's canonical form (linux/amd64, linux/arm64/v8). */
export function checkPlatformText(value: unknown, path: string, problems: Problems): string | undefined {
  if (typeof value !== 'string' || !/^[a-z0-9]{1,32}\/[a-z0-9]{1,32}(?:\/[a-z0-9]{1,32})?$/.test(value)) {
    return problems.add(path, `expected a platform such as linux/amd64, got ${quoted(value)}`), undefined;
  }
  try {
    const canonical = formatPlatform(parsePlatform(value));
    if (canonical !== value) return problems.add(path, `platform ${quoted(value)} is not in canonical form (${canonical})`), undefined;
    return value;
  } catch (error) {
    if (error instanceof InvalidPlatformError) return problems.add(path, `invalid platform ${quoted(value)}`), undefined;
    throw error;
  }
}

function checkAnnotations(value: unknown, path: string, problems: Problems): void {
  if (value === undefined) return;
  if (!isObject(value)) return problems.add(path, 'expected an object of strings');
  const entries = Object.entries(value);
  if (entries.length > MAX_ANNOTATIONS) return problems.add(path, `more than ${MAX_ANNOTATIONS} annotations`);
  for (const [key, v] of entries) {
    if (typeof v !== 'string' || key.length + v.length > MAX_ANNOTATION_BYTES) problems.add(`${path}.${printable(key.slice(0, 100))}`, 'expected a string of at most 4 KiB');
  }
}

/** A content descriptor: sha256 digest, a real size, a media type; optional platform and annotations. */
export function checkDescriptor(value: unknown, path: string, problems: Problems): Descriptor | undefined {
  if (!isObject(value)) return problems.add(path, `expected a descriptor, got ${quoted(value)}`), undefined;
  const before = problems.list.length;
  const { mediaType, digest, size, platform, annotations, urls } = value;
  if (typeof mediaType !== 'string' || !MEDIA_TYPE.test(mediaType)) problems.add(`${path}.mediaType`, `${quoted(mediaType)} is not a media type`);
  if (typeof digest !== 'string' || !SHA256_DIGEST.test(digest)) problems.add(`${path}.digest`, `${quoted(digest)} is not sha256: followed by 64 lowercase hex digits`);
  if (!isSize(size)) problems.add(`${path}.size`, `${quoted(size)} is not a size in bytes`);
  if (platform !== undefined) {
    if (!isObject(platform) || typeof platform.os !== 'string' || typeof platform.architecture !== 'string' || (platform.variant !== undefined && typeof platform.variant !== 'string')) {
      problems.add(`${path}.platform`, 'expected {os, architecture, variant?} strings');
    } else if (platform.os.length > 64 || platform.architecture.length > 64 || String(platform.variant ?? '').length > 64) {
      problems.add(`${path}.platform`, 'names longer than 64 characters');
    }
  }
  if (urls !== undefined && !Array.isArray(urls)) problems.add(`${path}.urls`, 'expected a list');
  checkAnnotations(annotations, `${path}.annotations`, problems);
  return problems.list.length === before ? (value as unknown as Descriptor) : undefined;
}

/** An image manifest (OCI or Docker schema 2): config and layers are descriptors, no foreign layers. */
export function checkManifest(value: unknown, path: string, problems: Problems): ImageManifest | undefined {
  if (!isObject(value)) return problems.add(path, 'a manifest must be a JSON object'), undefined;
  const before = problems.list.length;
  if (value.schemaVersion !== 2) problems.add(`${path}.schemaVersion`, `expected 2, got ${quoted(value.schemaVersion)}`);
  checkDescriptor(value.config, `${path}.config`, problems);
  if (!Array.isArray(value.layers)) problems.add(`${path}.layers`, 'expected a list of descriptors');
  else {
    if (value.layers.length > 1000) problems.add(`${path}.layers`, 'more than 1000 layers');
    value.layers.slice(0, 1000).forEach((layer, i) => {
      const d = checkDescriptor(layer, `${path}.layers[${i}]`, problems);
      if (d?.urls?.length) problems.add(`${path}.layers[${i}]`, 'a foreign layer (urls): lading cannot carry it');
    });
  }
  checkAnnotations(value.annotations, `${path}.annotations`, problems);
  return problems.list.length === before ? (value as unknown as ImageManifest) : undefined;
}

/** An image index or Docker manifest list: a list of descriptors. */
export function checkIndex(value: unknown, path: string, problems: Problems): ImageIndex | undefined {
  if (!isObject(value)) return problems.add(path, 'an index must be a JSON object'), undefined;
  const before = problems.list.length;
  if (value.schemaVersion !== 2) problems.add(`${path}.schemaVersion`, `expected 2, got ${quoted(value.schemaVersion)}`);
  if (!Array.isArray(value.manifests)) problems.add(`${path}.manifests`, 'expected a list of descriptors');
  else {
    if (value.manifests.length > 10_000) problems.add(`${path}.manifests`, 'more than 10,000 entries');
    value.manifests.slice(0, 10_000).forEach((d, i) => checkDescriptor(d, `${path}.manifests[${i}]`, problems));
  }
  checkAnnotations(value.annotations, `${path}.annotations`, problems);
  return problems.list.length === before ? (value as unknown as ImageIndex) : undefined;
}

/** The parts of an image config lading reads (its platform). */
export function checkConfig(value: unknown, path: string, problems: Problems): ImageConfig | undefined {
  if (!isObject(value)) return problems.add(path, 'an image config must be a JSON object'), undefined;
  const before = problems.list.length;
  for (const key of ['os', 'architecture', 'variant'] as const) {
    const v = value[key];
    if (v !== undefined && (typeof v !== 'string' || v.length > 64)) problems.add(`${path}.${key}`, `expected a short string, got ${quoted(v)}`);
  }
  return problems.list.length === before ? (value as ImageConfig) : undefined;
}

/** Media types a root (what a tag points at) may have. */
export const ROOT_MEDIA_TYPES: ReadonlySet<string> = new Set([MediaType.ociIndex, MediaType.ociManifest, MediaType.dockerManifestList, MediaType.dockerManifest]);
