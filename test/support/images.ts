// Deterministic test/demo images, built by our own code and pushed over the
// OCI distribution API (no skopeo): layers are tar (+ gzip), configs and
// manifests are canonical JSON, so the same spec gives the same bytes and
// digests every time, and equal layers are shared across images.
//
// Large layers are streamed (generator -> tar -> hash -> gzip -> hash -> file)
// with bounded memory and cached on disk, content-addressed, under
// ~/.cache/lading/fixture-blobs/ (LADING_FIXTURE_CACHE=DIR to move it,
// LADING_FIXTURE_CACHE=off to disable).
//
// The code lives in ./images/: types.ts (media types, specs, built artefacts),
// helpers.ts (constants, digests, cache location, seeded random), tar.ts (tar
// entries and writer, stored gzip), layers.ts (layer build, cache, memo),
// build.ts (configs, manifests, indexes), push.ts (registry push),
// oci-layout.ts (local OCI layout). This file is the public entry point.

export { buildImage } from './images/build.js';
export { fixtureCacheDir, parsePlatform, SeededRandom, seededRandomChunks, sha256 } from './images/helpers.js';
export type { ParsedPlatform } from './images/helpers.js';
export { buildLayerBlob, forgetBuiltLayers } from './images/layers.js';
export { writeOciLayout } from './images/oci-layout.js';
export { pushImage, pushImages } from './images/push.js';
export type { BlobAction, PushedImage, PushedPlatform, PushOptions, RegistryTarget } from './images/push.js';
export { MediaTypes } from './images/types.js';
export type {
  BlobRef,
  BlobSource,
  BuildOptions,
  BuiltImage,
  BuiltLayer,
  BuiltPlatformImage,
  Compression,
  FilesLayerSpec,
  FileValue,
  ImageConfigSpec,
  ImageFormat,
  ImageSpec,
  LayerOptions,
  LayerSpec,
  RandomLayerSpec,
} from './images/types.js';
