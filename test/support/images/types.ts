// Shared definitions of the test/demo image builder: media types, the specs
// callers write, and the built artefacts.

// ---------------------------------------------------------------------------
// Media types

export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
} as const;

// ---------------------------------------------------------------------------
// Specs

export type Compression = 'gzip' | 'none';
export type ImageFormat = 'oci' | 'docker';

/** A regular file with a mode, a symlink, or a directory. Plain strings/Buffers are files with mode 0644. */
export type FileValue =
  | string
  | Buffer
  | { content: string | Buffer; mode?: number }
  | { symlink: string }
  | { directory: true; mode?: number };

export interface LayerOptions {
  /** Default: the image's compression (default 'gzip'). */
  compression?: Compression;
  /**
   * zlib level. Default: 1 for `files` layers; 0 (stored deflate blocks: valid
   * gzip, ~6x faster, and no bigger since random data does not compress) for
   * `randomBytes` layers. Part of the layer's identity (digest).
   */
  gzipLevel?: number;
}

export interface FilesLayerSpec extends LayerOptions {
  /** path (leading "/" optional) -> content. Parent directories are added. */
  files: Record<string, FileValue>;
}

export interface RandomLayerSpec extends LayerOptions {
  /** One file of this many pseudo-random bytes (AES-128-CTR keystream keyed by `seed`). */
  randomBytes: number;
  seed: string;
  /** The file's path in the layer. Default: `data/<seed>.bin`. */
  path?: string;
}

export type LayerSpec = FilesLayerSpec | RandomLayerSpec;

export interface ImageConfigSpec {
  Env?: string[];
  Cmd?: string[];
  Entrypoint?: string[];
  WorkingDir?: string;
  User?: string;
  Labels?: Record<string, string>;
}

export interface ImageSpec {
  /** e.g. "demo/web" (no host). */
  repository: string;
  tag: string;
  /** "os/arch[/variant]". Default ['linux/amd64']. */
  platforms?: string[];
  /** Layers every platform shares (same bytes, same digest). */
  layers: LayerSpec[];
  /** Extra layers for one platform, appended after `layers`. */
  platformLayers?: (platform: string) => LayerSpec[];
  /** Append a layer with `etc/platform` = "<platform>\n" to each platform. Default true. */
  platformFile?: boolean;
  /** 'oci' (default) or 'docker' (schema2 manifest / manifest list media types). */
  format?: ImageFormat;
  /** Default compression of the layers. Default 'gzip'. */
  compression?: Compression;
  /** 'auto' (default): an index / manifest list only when there is more than one platform; 'always': also for one. */
  index?: 'auto' | 'always';
  /** Image config (`config` field of the config JSON). Default: a PATH env only. */
  config?: ImageConfigSpec;
  /** Annotations on each manifest and on the index (OCI format only). */
  annotations?: Record<string, string>;
  /** `created` of the config and history. Default 2024-01-01T00:00:00Z (fixed: determinism). */
  created?: string;
}

// ---------------------------------------------------------------------------
// Built artefacts

export interface BlobRef {
  digest: string;
  size: number;
  mediaType: string;
}

/** A blob's bytes: in memory (small) or in a file (large; cache or temp dir). */
export interface BlobSource {
  digest: string;
  size: number;
  data?: Buffer;
  file?: string;
}

export interface BuiltLayer extends BlobSource {
  /** sha256 of the uncompressed tar (what config.rootfs.diff_ids holds). */
  diffId: string;
  uncompressedSize: number;
  compression: Compression;
  /** Whether it came from the on-disk cache. */
  cached: boolean;
}

export interface BuiltPlatformImage {
  platform: string;
  os: string;
  architecture: string;
  variant?: string;
  manifest: BlobRef & { data: Buffer };
  config: BlobRef & { data: Buffer };
  layers: (BuiltLayer & { mediaType: string })[];
}

export interface BuiltImage {
  repository: string;
  tag: string;
  format: ImageFormat;
  /** What the tag points at: the index / manifest list, or the single manifest. */
  mediaType: string;
  digest: string;
  size: number;
  data: Buffer;
  platforms: BuiltPlatformImage[];
  /** Unique layer digests in order of first use. */
  layerDigests: string[];
}

export interface BuildOptions {
  /** On-disk blob cache: a directory, or false to disable. Default: fixtureCacheDir(). */
  cache?: string | false;
}
