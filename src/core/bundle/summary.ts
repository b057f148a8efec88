/** One image as it went into the bundle: the operator's record of what was carried. */
export interface CreateSummaryImage {
  /** Full normalised reference, the name on nodes. */
  reference: string;
  /** Digest of the root index or manifest, as the source registry served it. */
  digest: string;
  /** Platforms stored, e.g. ["linux/amd64", "linux/arm64/v8"]. */
  platforms: string[];
  /** Config and layer bytes over its platforms (as `lading inspect` counts them). */
  bytes: number;
}

/** What `lading create` reports when a bundle is complete; shown by every view and by --json. */
export interface CreateSummary {
  bundlePath: string;
  /** Size of the bundle file in bytes. */
  bundleBytes: number;
  /** sha256 of the whole bundle file, hex. */
  bundleSha256: string;
  /** Number of image references in the spec. */
  images: number;
  /** Platforms present in the bundle, e.g. ["linux/amd64", "linux/arm64"]. */
  platforms: string[];
  /** Distinct layer blobs stored. */
  uniqueLayers: number;
  /** Sum of layer sizes over every image and platform, as if nothing were shared. */
  totalLayerBytes: number;
  /** Sum of the distinct layer blobs actually stored. */
  uniqueLayerBytes: number;
  /** totalLayerBytes - uniqueLayerBytes. */
  savedBytes: number;
  /** Bytes fetched from registries during this run (the rest came from the cache). */
  downloadedBytes: number;
  durationMs: number;
  /** One entry per image, in spec order (absent only in summaries made by older code and tests). */
  imageList?: CreateSummaryImage[];
}
