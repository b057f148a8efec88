/**
 * Loads and validates lading.yaml. Every problem is reported with the file,
 * line and column, the path in the document, and what was expected; all
 * problems are collected so an operator fixes them in one pass.
 */
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument, isMap, isSeq, isScalar, type Node, type Document } from 'yaml';
import { AbortError, ExitCode } from '../errors.js';
import { InvalidPlatformError, formatPlatform, parsePlatform, type Platform } from '../oci/platform.js';
import { InvalidReferenceError, formatReference, parseReference, type ImageReference } from '../oci/reference.js';
import { BUNDLE_NAME, BUNDLE_VERSION, isRegistryHost, mirrorEndpointProblem, normalizeEndpoint } from '../oci/validate.js';

export const SPEC_API_VERSION = 'lading.dev/v1alpha1';
export const SPEC_KIND = 'Bundle';

export interface SpecImage {
  /** As written. */
  source: string;
  ref: ImageReference;
  /** Full normalised reference. */
  name: string;
  platforms: Platform[];
}

export interface BundleSpec {
  file: string;
  name: string;
  version: string;
  platforms: Platform[];
  images: SpecImage[];
  /** Registries allowed plain HTTP / unverified TLS (`spec.registries.insecure`). */
  insecureRegistries: string[];
  /** Registry mirrors the nodes should use (containerd hosts.toml, CRI-O registries.conf.d). */
  mirrors: MirrorSpec[];
  /** The nodes' sandbox (pause) image, carried like any image (`spec.sandbox`), so that it survives a store wipe. */
  sandboxImage?: string;
  /** Registry mode: the image to run as the in-cluster registry (`spec.registry`), carried like any image. */
  registry?: { image: string; port: number };
}

/** The port the in-cluster registry listens on, on its node's address, unless the spec says otherwise. */
export const DEFAULT_REGISTRY_PORT = 5000;

/**
 * The pause image kubeadm configures for each Kubernetes minor version (kubeadm's constants.PauseVersion),
 * which is what `spec.sandbox.kubernetes` adds. A runtime configured with another one needs `sandbox.image`.
 */
export const KUBEADM_PAUSE_VERSIONS: Readonly<Record<string, string>> = {
  '1.26': '3.9', '1.27': '3.9', '1.28': '3.9', '1.29': '3.9', '1.30': '3.9',
  '1.31': '3.10', '1.32': '3.10', '1.33': '3.10', '1.34': '3.10.1', '1.35': '3.10.1',
};

export interface MirrorSpec {
  /** The registry image names use, e.g. docker.io or registry.k8s.io. */
  registry: string;
  /** Mirror URLs in order of preference, e.g. https://harbor.site.local:5000. */
  endpoints: string[];
  /** Accept any TLS certificate from the mirrors (lab use). */
  skipVerify: boolean;
}

export interface SpecProblem {
  path: string;
  line: number | undefined;
  column: number | undefined;
  message: string;
}

export class SpecError extends AbortError {
  constructor(
    readonly file: string,
    readonly problems: SpecProblem[],
  ) {
    const lines = problems.map((p) => `  ${file}${p.line ? `:${p.line}:${p.column ?? 1}` : ''}: ${p.path ? `${p.path}: ` : ''}${p.message}`);
    super(`${file} is not a valid lading spec:\n${lines.join('\n')}`, {
      exitCode: ExitCode.spec,
      hint: 'See the spec format in the README (lading create --help shows an example).',
    });
    this.name = 'SpecError';
  }
}

const DEFAULT_PLATFORMS = ['linux/amd64'];
const TOP_KEYS = new Set(['apiVersion', 'kind', 'metadata', 'spec']);
/** Keys reserved for later issues (manifests, runtime settings) are accepted but not yet used. */
const SPEC_KEYS = new Set(['platforms', 'images', 'registries', 'mirrors', 'sandbox', 'registry', 'manifests', 'runtime']);
const REGISTRY_KEYS = new Set(['image', 'port']);
const SANDBOX_KEYS = new Set(['kubernetes', 'image']);
const MIRROR_KEYS = new Set(['registry', 'endpoints', 'skipVerify']);
const IMAGE_KEYS = new Set(['name', 'platforms']);

export async function loadSpec(file: string): Promise<BundleSpec> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new AbortError(code === 'ENOENT' ? `spec file ${file} not found` : `cannot read spec file ${file} (${code})`, {
      exitCode: ExitCode.spec,
      hint: code === 'ENOENT' ? 'Pass the spec path (lading create SPEC -o BUNDLE); the default is ./lading.yaml.' : undefined,
    });
  }
  return parseSpec(text, file);
}

export function parseSpec(text: string, file: string): BundleSpec {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true, uniqueKeys: true });
  const problems: SpecProblem[] = [];
  const at = (node: Node | null | undefined, path: string, message: string) => {
    const pos = node?.range ? lines.linePos(node.range[0]) : undefined;
    problems.push({ path, line: pos?.line, column: pos?.col, message });
  };
  for (const error of doc.errors) {
    const pos = error.linePos?.[0];
    problems.push({ path: '', line: pos?.line, column: pos?.col, message: error.message.split('\n')[0]! });
  }
  if (problems.length) throw new SpecError(file, problems);

  const root = doc.contents;
  if (!isMap(root)) {
    at(root, '', 'expected a mapping with apiVersion, kind, metadata and spec');
    throw new SpecError(file, problems);
  }
  const get = (parent: Node | null | undefined, key: string): Node | undefined =>
    isMap(parent) ? (parent.get(key, true) as Node | undefined) : undefined;
  const str = (node: Node | undefined): string | undefined =>
    isScalar(node) && (typeof node.value === 'string' || typeof node.value === 'number') ? String(node.value) : undefined;
  const unknownKeys = (node: Node | undefined, allowed: Set<string>, path: string) => {
    if (!isMap(node)) return;
    for (const pair of node.items) {
      const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
      if (!allowed.has(key)) at(pair.key as Node, path ? `${path}.${key}` : key, `unknown field (expected one of: ${[...allowed].join(', ')})`);
    }
  };

  unknownKeys(root, TOP_KEYS, '');
  const apiVersion = str(get(root, 'apiVersion'));
  if (apiVersion !== SPEC_API_VERSION) at(get(root, 'apiVersion') ?? root, 'apiVersion', `expected "${SPEC_API_VERSION}"${apiVersion ? `, got "${apiVersion}"` : ''}`);
  const kind = str(get(root, 'kind'));
  if (kind !== SPEC_KIND) at(get(root, 'kind') ?? root, 'kind', `expected "${SPEC_KIND}"${kind ? `, got "${kind}"` : ''}`);

  const metadata = get(root, 'metadata');
  const name = str(get(metadata, 'name'));
  const version = str(get(metadata, 'version'));
  if (!isMap(metadata)) at(metadata ?? root, 'metadata', 'expected a mapping with name and version');
  else {
    if (!name || !BUNDLE_NAME.test(name)) at(get(metadata, 'name') ?? metadata, 'metadata.name', 'expected a lowercase name (letters, digits, "-" and "."), e.g. "demo"');
    if (!version || !BUNDLE_VERSION.test(version)) {
      at(get(metadata, 'version') ?? metadata, 'metadata.version', 'expected a version of letters, digits and . _ + ~ - (at most 127), e.g. "1.0.0"');
    }
  }

  const spec = get(root, 'spec');
  if (!isMap(spec)) {
    at(spec ?? root, 'spec', 'expected a mapping with images (and optionally platforms)');
    throw new SpecError(file, problems);
  }
  unknownKeys(spec, SPEC_KEYS, 'spec');

  const parsePlatforms = (node: Node | undefined, path: string): Platform[] | undefined => {
    if (node === undefined) return undefined;
    if (!isSeq(node) || node.items.length === 0) {
      at(node, path, 'expected a non-empty list of platforms, e.g. [linux/amd64, linux/arm64]');
      return undefined;
    }
    const out: Platform[] = [];
    node.items.forEach((item, i) => {
      const text = str(item as Node);
      try {
        if (text === undefined) throw new InvalidPlatformError(String(item), 'expected a string like linux/amd64');
        const platform = parsePlatform(text);
        if (out.some((p) => formatPlatform(p) === formatPlatform(platform))) at(item as Node, `${path}[${i}]`, `platform ${text} is listed twice`);
        else out.push(platform);
      } catch (error) {
        at(item as Node, `${path}[${i}]`, (error as Error).message);
      }
    });
    return out;
  };

  const platforms = parsePlatforms(get(spec, 'platforms'), 'spec.platforms') ?? DEFAULT_PLATFORMS.map(parsePlatform);

  const insecureRegistries: string[] = [];
  const registries = get(spec, 'registries');
  if (registries !== undefined) {
    unknownKeys(registries, new Set(['insecure']), 'spec.registries');
    const insecure = get(registries, 'insecure');
    if (insecure !== undefined) {
      if (!isSeq(insecure)) at(insecure, 'spec.registries.insecure', 'expected a list of registry hosts, e.g. [registry.lab:5000]');
      else insecure.items.forEach((item, i) => {
        const host = str(item as Node);
        if (!host || /[/\s]/.test(host)) at(item as Node, `spec.registries.insecure[${i}]`, 'expected a registry host such as registry.lab:5000');
        else insecureRegistries.push(host);
      });
    }
  }

  const mirrors: MirrorSpec[] = [];
  const mirrorsNode = get(spec, 'mirrors');
  if (mirrorsNode !== undefined) {
    if (!isSeq(mirrorsNode)) at(mirrorsNode, 'spec.mirrors', 'expected a list of {registry, endpoints}');
    else
      mirrorsNode.items.forEach((item, i) => {
        const path = `spec.mirrors[${i}]`;
        const node = item as Node;
        if (!isMap(node)) return at(node, path, 'expected a mapping with registry and endpoints');
        unknownKeys(node, MIRROR_KEYS, path);
        const registry = str(get(node, 'registry'));
        if (!registry || !isRegistryHost(registry)) at(get(node, 'registry') ?? node, `${path}.registry`, 'expected a registry host such as docker.io or registry.lab:5000');
        const endpointsNode = get(node, 'endpoints');
        const endpoints: string[] = [];
        if (!isSeq(endpointsNode) || endpointsNode.items.length === 0) at(endpointsNode ?? node, `${path}.endpoints`, 'expected a non-empty list of mirror URLs');
        else
          endpointsNode.items.forEach((e, j) => {
            const url = str(e as Node);
            const problem = mirrorEndpointProblem(url);
            if (problem) at(e as Node, `${path}.endpoints[${j}]`, problem);
            else endpoints.push(normalizeEndpoint(url!));
          });
        const skipNode = get(node, 'skipVerify');
        if (skipNode !== undefined && !(isScalar(skipNode) && typeof skipNode.value === 'boolean')) at(skipNode, `${path}.skipVerify`, 'expected true or false');
        if (registry && mirrors.some((m) => m.registry === registry)) at(node, path, `registry ${registry} is listed twice`);
        else if (registry && endpoints.length) mirrors.push({ registry, endpoints, skipVerify: isScalar(skipNode) && skipNode.value === true });
      });
  }

  const images: SpecImage[] = [];
  const imagesNode = get(spec, 'images');
  if (!isSeq(imagesNode) || imagesNode.items.length === 0) {
    at(imagesNode ?? spec, 'spec.images', 'expected a non-empty list of images');
  } else {
    const seen = new Map<string, string>();
    imagesNode.items.forEach((item, i) => {
      const path = `spec.images[${i}]`;
      const node = item as Node;
      let source: string | undefined;
      let imagePlatforms = platforms;
      if (isMap(node)) {
        unknownKeys(node, IMAGE_KEYS, path);
        const nameNode = get(node, 'name');
        source = isScalar(nameNode) && typeof nameNode.value === 'string' ? nameNode.value : undefined;
        if (!source) at(get(node, 'name') ?? node, `${path}.name`, 'expected an image reference, e.g. docker.io/library/nginx:1.27');
        imagePlatforms = parsePlatforms(get(node, 'platforms'), `${path}.platforms`) ?? platforms;
      } else {
        source = isScalar(node) && typeof node.value === 'string' ? node.value : undefined;
        if (source === undefined) at(node, path, 'expected an image reference string or a mapping with name (and platforms)');
      }
      if (source === undefined) return;
      try {
        const ref = parseReference(source);
        const full = formatReference(ref);
        const previous = seen.get(full);
        if (previous) at(node, path, `${source} is the same image as ${previous}`);
        else {
          seen.set(full, `${path} (${source})`);
          images.push({ source, ref, name: full, platforms: imagePlatforms });
        }
      } catch (error) {
        if (error instanceof InvalidReferenceError) at(isMap(node) ? get(node, 'name') : node, path, error.message);
        else throw error;
      }
    });
  }

  const sandboxImage = parseSandbox(get(spec, 'sandbox'));
  if (sandboxImage && !images.some((i) => i.name === sandboxImage.name)) images.push(sandboxImage);
  const registry = parseRegistry(get(spec, 'registry'));
  if (registry && !images.some((i) => i.name === registry.image.name)) images.push(registry.image);

  if (problems.length) throw new SpecError(file, problems);
  return {
    file, name: name!, version: version!, platforms, images, insecureRegistries, mirrors,
    ...(sandboxImage ? { sandboxImage: sandboxImage.name } : {}),
    ...(registry ? { registry: { image: registry.image.name, port: registry.port } } : {}),
  };

  /** `spec.registry`: `{image: REF, port?: N}`, the registry that `install --registry` runs in the cluster. */
  function parseRegistry(node: Node | undefined): { image: SpecImage; port: number } | undefined {
    if (node === undefined) return undefined;
    const path = 'spec.registry';
    if (!isMap(node)) {
      at(node, path, 'expected a mapping with image (e.g. docker.io/library/registry:2.8.3) and optionally port');
      return undefined;
    }
    unknownKeys(node, REGISTRY_KEYS, path);
    const imageNode = get(node, 'image');
    const source = isScalar(imageNode) && typeof imageNode.value === 'string' ? imageNode.value : undefined;
    const portNode = get(node, 'port');
    let port = DEFAULT_REGISTRY_PORT;
    if (portNode !== undefined) {
      if (isScalar(portNode) && Number.isInteger(portNode.value) && (portNode.value as number) >= 1 && (portNode.value as number) <= 65535) port = portNode.value as number;
      else at(portNode, `${path}.port`, 'expected a port number from 1 to 65535');
    }
    if (!source) {
      at(imageNode ?? node, `${path}.image`, 'expected the registry image, e.g. docker.io/library/registry:2.8.3');
      return undefined;
    }
    try {
      const ref = parseReference(source);
      return { image: { source, ref, name: formatReference(ref), platforms }, port };
    } catch (error) {
      if (error instanceof InvalidReferenceError) at(imageNode, `${path}.image`, error.message);
      else throw error;
      return undefined;
    }
  }

  /** `spec.sandbox`: `{kubernetes: "1.34"}` (kubeadm's pause image for that version) or `{image: REF}`. */
  function parseSandbox(node: Node | undefined): SpecImage | undefined {
    if (node === undefined) return undefined;
    const path = 'spec.sandbox';
    if (!isMap(node)) {
      at(node, path, 'expected a mapping with kubernetes (e.g. "1.34") or image (e.g. registry.k8s.io/pause:3.10)');
      return undefined;
    }
    unknownKeys(node, SANDBOX_KEYS, path);
    const kubernetesNode = get(node, 'kubernetes');
    if (isScalar(kubernetesNode) && typeof kubernetesNode.value === 'number') {
      // YAML reads 1.30 as the number 1.3: only a string says which version was meant.
      at(kubernetesNode, `${path}.kubernetes`, `write the version as a string ("${String(kubernetesNode.value)}"): unquoted, YAML reads it as a number`);
      return undefined;
    }
    const kubernetes = str(kubernetesNode);
    const image = str(get(node, 'image'));
    let source: string | undefined;
    if ((kubernetes === undefined) === (image === undefined)) {
      at(node, path, 'expected exactly one of kubernetes (e.g. "1.34") or image (e.g. registry.k8s.io/pause:3.10)');
    } else if (kubernetes !== undefined) {
      const minor = /^v?(\d+\.\d+)(?:\.\d+)?$/.exec(kubernetes)?.[1];
      const pause = minor ? KUBEADM_PAUSE_VERSIONS[minor] : undefined;
      if (pause) source = `registry.k8s.io/pause:${pause}`;
      else {
        const known = Object.keys(KUBEADM_PAUSE_VERSIONS);
        at(get(node, 'kubernetes'), `${path}.kubernetes`, `expected a Kubernetes version from ${known[0]} to ${known.at(-1)} (as a string: "1.34"); for another, name the image with sandbox.image`);
      }
    } else source = image;
    if (source === undefined) return undefined;
    try {
      const ref = parseReference(source);
      return { source, ref, name: formatReference(ref), platforms };
    } catch (error) {
      if (error instanceof InvalidReferenceError) at(get(node, 'image'), `${path}.image`, error.message);
      else throw error;
      return undefined;
    }
  }
}

/** For tests and error messages: the YAML document type, re-exported so callers need not import yaml. */
export type SpecDocument = Document;
