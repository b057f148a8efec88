/**
 * Image references, normalised the way Docker does: `nginx` is
 * `docker.io/library/nginx:latest`, the first path component is a registry only
 * when it looks like a host (has a dot or a port, or is `localhost`).
 */

export interface ImageReference {
  /** Registry as the user names it, e.g. `docker.io`, `127.0.0.1:5000`. */
  registry: string;
  /** Repository path, e.g. `library/nginx`. */
  repository: string;
  tag: string | undefined;
  /** `sha256:<hex>` when the reference is pinned. */
  digest: string | undefined;
}

export class InvalidReferenceError extends Error {
  constructor(readonly input: string, reason: string) {
    super(`invalid image reference "${input}": ${reason}`);
    this.name = 'InvalidReferenceError';
  }
}

export const DOCKER_HUB = 'docker.io';
const DOCKER_HUB_API = 'registry-1.docker.io';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^[\w][\w.-]{0,127}$/;

/** A repository path as the distribution spec allows it (components joined by /), e.g. from a registry's catalog. */
export function isRepositoryPath(value: string): boolean {
  return value.length <= 255 && value.split('/').every((c) => COMPONENT.test(c));
}

/** A tag as the distribution spec allows it. */
export function isTag(value: string): boolean {
  return TAG.test(value);
}
const DIGEST = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,}$/;
const SHA256 = /^sha256:[a-f0-9]{64}$/;
const HOST = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?$/;

export function parseReference(input: string): ImageReference {
  const text = input.trim();
  if (text === '') throw new InvalidReferenceError(input, 'it is empty');
  if (text.length > 255 + 128 + 72) throw new InvalidReferenceError(input, 'it is too long');

  let rest = text;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new InvalidReferenceError(input, `"${digest}" is not a digest (algorithm:hex)`);
    if (digest.startsWith('sha256:') && !SHA256.test(digest)) {
      throw new InvalidReferenceError(input, 'a sha256 digest has 64 lowercase hex characters');
    }
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw new InvalidReferenceError(input, `"${tag}" is not a valid tag`);
  }

  const parts = rest.split('/');
  let registry = DOCKER_HUB;
  const first = parts[0]!;
  if (parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost' || first.startsWith('['))) {
    registry = first;
    parts.shift();
    if (!HOST.test(registry)) throw new InvalidReferenceError(input, `"${registry}" is not a valid registry host`);
  }
  if (registry === 'index.docker.io' || registry === DOCKER_HUB_API) registry = DOCKER_HUB;
  if (parts.length === 0 || parts.some((p) => p === '')) throw new InvalidReferenceError(input, 'the repository path is empty');
  for (const part of parts) {
    if (!COMPONENT.test(part)) {
      const hint = part !== part.toLowerCase() ? ' (repository names must be lowercase)' : '';
      throw new InvalidReferenceError(input, `"${part}" is not a valid repository component${hint}`);
    }
  }
  if (registry === DOCKER_HUB && parts.length === 1) parts.unshift('library');
  const repository = parts.join('/');
  if (repository.length > 255) throw new InvalidReferenceError(input, 'the repository name is longer than 255 characters');

  if (tag === undefined && digest === undefined) tag = 'latest';
  return { registry, repository, tag, digest };
}

/** The full, normalised reference: `docker.io/library/nginx:1.27`, `host/repo@sha256:...`. */
export function formatReference(ref: ImageReference): string {
  let out = `${ref.registry}/${ref.repository}`;
  if (ref.tag !== undefined) out += `:${ref.tag}`;
  if (ref.digest !== undefined) out += `@${ref.digest}`;
  return out;
}

/** `registry/repository` without tag or digest. */
export function repositoryName(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}`;
}

/** The host that serves the distribution API for a registry name. */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API : registry;
}

/** Hostname without port or brackets, for loopback checks. */
export function registryHostname(registry: string): string {
  if (registry.startsWith('[')) return registry.slice(1, registry.indexOf(']'));
  const colon = registry.lastIndexOf(':');
  return colon === -1 ? registry : registry.slice(0, colon);
}

export function isLoopbackRegistry(registry: string): boolean {
  const host = registryHostname(registry).toLowerCase();
  return host === 'localhost' || host === '::1' || /^127(?:\.\d{1,3}){3}$/.test(host);
}

export function isSha256Digest(value: string): boolean {
  return SHA256.test(value);
}
