/**
 * Writes a bundle as a tar stream into a temporary file beside the output, and
 * renames it into place only when complete: a failed or interrupted create
 * leaves nothing at the output path. Every blob is hashed again as it goes
 * into the tar, so a corrupted cache cannot produce a bundle that lies.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { rename, stat, unlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { VerifyingStream } from '../oci/digest.js';
import { BLOBS_DIR, METADATA_FILE, OCI_INDEX_FILE, OCI_LAYOUT_FILE, blobPath, type BundleMetadata } from './layout.js';
import type { ImageIndex } from '../oci/types.js';
import { removeDeadBundlePartials } from '../util/leftovers.js';
import { PARTS_SCHEMA, partPath, partsListPath, type PartsFile } from './parts.js';
import { SplitSink } from './split-sink.js';

export interface WrittenBundle {
  /** The bundle file, or a split bundle's .parts list. */
  path: string;
  size: number;
  sha256: string;
  /** A split bundle's parts, in order. */
  parts?: PartsFile['parts'];
}

export interface BundleWriterOptions {
  /** Cut the tar into parts of at most this many bytes (`create --split`). */
  splitBytes?: number;
}

/** A fixed mtime keeps bundles of the same content byte-identical. */
const EPOCH = new Date(0);

export class BundleWriter {
  readonly #pack = tar.pack();
  readonly #hash = createHash('sha256');
  readonly #file: WriteStream | SplitSink;
  readonly #done: Promise<void>;
  readonly #written = new Set<string>();
  #queue: Promise<void> = Promise.resolve();
  #closed = false;
  #bytes = 0;

  private constructor(
    readonly outputPath: string,
    readonly tempPath: string,
    options: BundleWriterOptions,
  ) {
    this.#file = options.splitBytes ? new SplitSink(tempPath, options.splitBytes) : createWriteStream(tempPath, { flags: 'wx', highWaterMark: 256 << 10 });
    const hash = this.#hash;
    const counter = new Transform({
      highWaterMark: 256 << 10,
      transform: (chunk: Buffer, _enc, callback) => {
        hash.update(chunk);
        this.#bytes += chunk.length;
        callback(null, chunk);
      },
    });
    this.#done = pipeline(this.#pack, counter, this.#file);
    // Failures surface through the next operation or finish(); keep Node from calling it unhandled meanwhile.
    this.#done.catch(() => undefined);
  }

  static async create(outputPath: string, options: BundleWriterOptions = {}): Promise<BundleWriter> {
    const tempPath = join(dirname(outputPath), `.${basename(outputPath)}.partial-${process.pid}`);
    // Temporary files of killed earlier runs for this output; a live run's file is left alone.
    await removeDeadBundlePartials(outputPath);
    await unlink(tempPath).catch(() => undefined);
    const writer = new BundleWriter(outputPath, tempPath, options);
    await writer.addFile(OCI_LAYOUT_FILE, Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
    return writer;
  }

  /** Bytes of the tar written so far. */
  get bytesWritten(): number {
    return this.#bytes;
  }

  hasBlob(digest: string): boolean {
    return this.#written.has(digest);
  }

  addFile(name: string, content: Buffer): Promise<void> {
    return this.#serial(async () => {
      const entry = this.#pack.entry({ name, size: content.length, mode: 0o644, mtime: EPOCH });
      await pipeline(streamOf(content), entry);
    });
  }

  /** Adds a small blob held in memory (manifests, indexes); stored once per digest. */
  addBlobBuffer(digest: string, content: Buffer): Promise<void> {
    if (this.#written.has(digest)) return this.#queue;
    this.#written.add(digest);
    return this.#serial(async () => {
      const entry = this.#pack.entry({ name: blobPath(digest), size: content.length, mode: 0o644, mtime: EPOCH });
      await pipeline(streamOf(content), new VerifyingStream({ digest, size: content.length }, `blob ${digest}`), entry);
    });
  }

  /**
   * Streams a blob into the bundle; stored once per digest. `verify` hashes it
   * on the way in: needed for anything this process did not hash itself (a
   * cache file from an earlier run could have been altered since).
   */
  addBlob(
    descriptor: { digest: string; size: number },
    open: () => Readable,
    subject: string,
    options: { verify: boolean; onBytes?: (n: number) => void },
  ): Promise<void> {
    if (this.#written.has(descriptor.digest)) return this.#queue;
    this.#written.add(descriptor.digest);
    return this.#serial(async () => {
      const entry = this.#pack.entry({ name: blobPath(descriptor.digest), size: descriptor.size, mode: 0o644, mtime: EPOCH });
      const source = open();
      if (options.verify) await pipeline(source, new VerifyingStream(descriptor, subject, options.onBytes), entry);
      else await pipeline(source, counting(options.onBytes), entry);
    });
  }

  /** Streams a blob from a file, e.g. the cache. */
  addBlobFile(descriptor: { digest: string; size: number }, path: string, subject: string, onBytes?: (n: number) => void): Promise<void> {
    return this.addBlob(descriptor, () => createReadStream(path, { highWaterMark: 256 << 10 }), subject, { verify: true, ...(onBytes ? { onBytes } : {}) });
  }

  /** Writes index.json and lading.json, ends the tar, and renames the file into place. */
  async finish(index: ImageIndex, metadata: BundleMetadata): Promise<WrittenBundle> {
    await this.addFile(OCI_INDEX_FILE, Buffer.from(JSON.stringify(index, null, 2) + '\n'));
    await this.addFile(METADATA_FILE, Buffer.from(JSON.stringify(metadata, null, 2) + '\n'));
    await this.#queue;
    this.#closed = true;
    this.#pack.finalize();
    await this.#done;
    const sha256 = this.#hash.digest('hex');
    if (this.#file instanceof SplitSink) return this.#finishParts(this.#file, sha256);
    const size = (await stat(this.tempPath)).size;
    await rename(this.tempPath, this.outputPath);
    return { path: this.outputPath, size, sha256 };
  }

  /** Parts renamed into place, parts of an earlier, longer bundle removed, then the list: it appears last. */
  async #finishParts(sink: SplitSink, sha256: string): Promise<WrittenBundle> {
    const parts = sink.parts.map((p, i) => ({ file: basename(partPath(this.outputPath, i)), size: p.size, sha256: p.sha256 }));
    for (const [i, part] of sink.parts.entries()) await rename(part.tempPath, partPath(this.outputPath, i));
    for (let i = parts.length; i < 1000; i++) {
      if ((await unlink(partPath(this.outputPath, i)).then(() => true, () => false)) === false) break;
    }
    const size = parts.reduce((sum, p) => sum + p.size, 0);
    const list: PartsFile = { schema: PARTS_SCHEMA, size, sha256, parts };
    const listPath = partsListPath(this.outputPath);
    await writeFile(`${this.tempPath}.parts`, JSON.stringify(list, null, 2) + '\n', { flag: 'w' });
    await rename(`${this.tempPath}.parts`, listPath);
    return { path: listPath, size, sha256, parts };
  }

  /** Stops writing and removes the temporary file; safe to call more than once. */
  async abort(): Promise<void> {
    this.#closed = true;
    this.#pack.destroy();
    this.#file.destroy();
    await this.#done.catch(() => undefined);
    if (this.#file instanceof SplitSink) {
      for (let i = 0; i <= this.#file.parts.length; i++) await unlink(this.#file.tempPart(i)).catch(() => undefined);
    } else await unlink(this.tempPath).catch(() => undefined);
  }

  #serial(step: () => Promise<void>): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('bundle writer is closed'));
    const next = this.#queue.then(step);
    // A failed step poisons the writer: later steps must not write a tar with a hole in it.
    this.#queue = next;
    return next;
  }
}

function counting(onBytes?: (n: number) => void): Transform {
  return new Transform({
    highWaterMark: 256 << 10,
    transform(chunk: Buffer, _enc, callback) {
      onBytes?.(chunk.length);
      callback(null, chunk);
    },
  });
}

function streamOf(content: Buffer): PassThrough {
  const stream = new PassThrough();
  stream.end(content);
  return stream;
}

export { BLOBS_DIR };
