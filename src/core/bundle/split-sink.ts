/**
 * The file side of `create --split`: the tar stream is cut into consecutive
 * part files of at most `partBytes`, each hashed as it is written, so the
 * parts list needs no second read. Parts are written under temporary names;
 * the writer renames them when the bundle is complete.
 */
import { createHash, type Hash } from 'node:crypto';
import { open, type FileHandle } from 'node:fs/promises';
import { Writable } from 'node:stream';

export interface WrittenPart {
  tempPath: string;
  size: number;
  sha256: string;
}

export class SplitSink extends Writable {
  readonly parts: WrittenPart[] = [];
  #handle: FileHandle | undefined;
  #hash: Hash | undefined;
  #size = 0;

  constructor(
    readonly tempBase: string,
    readonly partBytes: number,
  ) {
    super({ highWaterMark: 256 << 10 });
  }

  /** Temporary name of part `index` (0-based): BASE.001, BASE.002, ... */
  tempPart(index: number): string {
    return `${this.tempBase}.${String(index + 1).padStart(3, '0')}`;
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.#writeAll(chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.#closePart().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const handle = this.#handle;
    this.#handle = undefined;
    (handle ? handle.close() : Promise.resolve()).then(
      () => callback(error),
      () => callback(error),
    );
  }

  async #writeAll(chunk: Buffer): Promise<void> {
    let rest = chunk;
    while (rest.length > 0) {
      if (!this.#handle) {
        this.#handle = await open(this.tempPart(this.parts.length), 'wx');
        this.#hash = createHash('sha256');
        this.#size = 0;
      }
      const slice = rest.subarray(0, this.partBytes - this.#size);
      await this.#handle.write(slice, 0, slice.length, null);
      this.#hash!.update(slice);
      this.#size += slice.length;
      rest = rest.subarray(slice.length);
      if (this.#size === this.partBytes) await this.#closePart();
    }
  }

  async #closePart(): Promise<void> {
    if (!this.#handle) return;
    const handle = this.#handle;
    this.#handle = undefined;
    await handle.close();
    this.parts.push({ tempPath: this.tempPart(this.parts.length), size: this.#size, sha256: this.#hash!.digest('hex') });
  }
}
