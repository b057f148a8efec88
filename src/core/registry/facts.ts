/**
 * Registry mode's facts about a bundle, computed once and without the cluster: where each image lives in
 * the one registry, which registries the images come from, what would clash, the mirrors every node gets,
 * and whether the registry's data fits its node.
 */
import type { BundleImage } from '../bundle/layout.js';
import type { FsSpace } from '../cluster/preflight.js';
import type { Mirror } from '../config/mirrors.js';
import { parseReference } from '../oci/reference.js';
import { formatBytes } from '../progress.js';
import type { PushTarget } from './push-image.js';

/** Where an image lives in the in-cluster registry: its path without the registry host, so a mirror serves it under its original name. */
export function pushTarget(image: BundleImage): PushTarget {
  const ref = parseReference(image.name);
  return { repository: ref.repository, tag: ref.tag };
}

/** The registry hosts the bundle's images come from (each gets a mirror on every node). */
export function sourceRegistries(images: readonly BundleImage[]): string[] {
  return [...new Set(images.map((i) => parseReference(i.name).registry))].sort();
}

/** Two images from different registries under one path would overwrite each other in the one registry. */
export function repositoryClashes(images: readonly BundleImage[]): string[] {
  const byRepository = new Map<string, Set<string>>();
  for (const image of images) {
    const ref = parseReference(image.name);
    const hosts = byRepository.get(ref.repository) ?? new Set<string>();
    hosts.add(ref.registry);
    byRepository.set(ref.repository, hosts);
  }
  return [...byRepository].filter(([, hosts]) => hosts.size > 1).map(([repo, hosts]) => `${repo} (from ${[...hosts].sort().join(' and ')})`);
}

/** The bundle's mirrors with the in-cluster registry first for every registry the images come from. */
export function registryMirrors(images: readonly BundleImage[], bundleMirrors: readonly Mirror[], endpoint: string): Mirror[] {
  const byRegistry = new Map(bundleMirrors.map((m) => [m.registry, m]));
  for (const registry of sourceRegistries(images)) {
    const existing = byRegistry.get(registry);
    byRegistry.set(registry, { registry, endpoints: [endpoint, ...(existing?.endpoints ?? []).filter((e) => e !== endpoint)], skipVerify: existing?.skipVerify ?? false });
  }
  return [...byRegistry.values()].sort((a, b) => a.registry.localeCompare(b.registry));
}

/** Every blob the registry would store, once. */
export function registryBytes(images: readonly BundleImage[]): number {
  const blobs = new Map<string, number>();
  for (const image of images) {
    blobs.set(image.root.digest, image.root.size);
    for (const p of image.platforms) for (const b of [p.manifest, p.config, ...p.layers]) blobs.set(b.digest, b.size);
  }
  return [...blobs.values()].reduce((a, b) => a + b, 0);
}

/**
 * Whether the registry's data fits on its node's filesystem (the kubelet's
 * root filesystem, where the hostPath lives) with `keepFreePercent` left, so
 * the kubelet does not start evicting pods; undefined when it fits or the
 * node does not say.
 */
export function registrySpaceProblem(bytes: number, space: FsSpace | undefined, keepFreePercent: number): string | undefined {
  if (!space) return undefined;
  const usable = space.available - (space.size * keepFreePercent) / 100;
  if (bytes <= usable) return undefined;
  return `the registry would store ${formatBytes(bytes)}, but its node's filesystem has ${formatBytes(space.available)} free of ${formatBytes(space.size)} and ${keepFreePercent} % of it must stay free`;
}
