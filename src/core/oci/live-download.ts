/**
 * A download in progress as the bundle writer sees it: the bytes land in a
 * partial file, and `followLive` reads them as they arrive, so a large blob
 * goes into the bundle while it is still downloading.
 */
import { type FileHandle, open } from 'node:fs/promises';
import { Writable } from 'node:stream';

export const CHUNK = 256 << 10;

/** A download in progress, as seen by followers. */
export interface LiveDownload {
  size: number;
  path: string;
  /** Bytes written to `path` so far. */
  written: number;
  /** Bumped when a retry starts over in a new partial file. */
  attempt: number;
  state: 'running' | 'done' | 'failed';
  error?: unknown;
  waiters: Set<() => void>;
}

export function notify(live: LiveDownload): void {
  const waiters = [...live.waiters];
  live.waiters.clear();
  for (const wake of waiters) wake();
}

function changed(live: LiveDownload): Promise<void> {
  return new Promise((resolve) => live.waiters.add(resolve));
}

/** Writes to a file and tells followers how far it got after each write lands. */
export class TrackedFileSink extends Writable {
  constructor(
    readonly handle: FileHandle,
    readonly live: LiveDownload,
  ) {
    super({ highWaterMark: CHUNK });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.handle.write(chunk, 0, chunk.length, null).then(
      ({ bytesWritten }) => {
        this.live.written += bytesWritten;
        notify(this.live);
        callback();
      },
      (error: Error) => callback(error),
    );
  }

  /** Socket chunks are small (~64 KiB): batching them saves a thread-pool round trip each. */
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.handle.writev(chunks.map((c) => c.chunk)).then(
      ({ bytesWritten }) => {
        this.live.written += bytesWritten;
        notify(this.live);
        callback();
      },
      (error: Error) => callback(error),
    );
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.handle.close().then(() => callback(), callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.handle.close().then(
      () => callback(error),
      () => callback(error),
    );
  }
}

/** Reads a growing partial file; follows a retry into its new file at the same offset (same content). */
export async function* followLive(live: LiveDownload): AsyncGenerator<Buffer> {
  let position = 0;
  let attempt = -1;
  let handle: FileHandle | undefined;
  try {
    while (position < live.size) {
      if (live.state === 'failed') throw live.error ?? new Error('download failed');
      if (attempt !== live.attempt) {
        await handle?.close();
        handle = undefined;
        attempt = live.attempt;
      }
      // A partial file of a failed attempt may be gone already; the next attempt announces itself.
      handle ??= await open(live.path, 'r').catch(() => undefined);
      // Opening raced with the rename that finished the download: the file now has its final name.
      if (!handle && live.state === 'done') handle = await open(live.path, 'r');
      const limit = live.state === 'done' ? live.size : live.written;
      if (handle && limit > position) {
        const buffer = Buffer.allocUnsafe(Math.min(CHUNK, limit - position));
        const { bytesRead } = await handle.read(buffer, 0, buffer.length, position);
        if (bytesRead > 0) {
          position += bytesRead;
          yield bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
          continue;
        }
      }
      if (live.state === 'done') throw new Error(`cached blob ${live.path} is shorter than ${live.size} bytes`);
      await changed(live);
    }
    // Every byte arrived; the stream ends only once the download is verified.
    while (live.state === 'running') await changed(live);
    if (live.state === 'failed') throw live.error ?? new Error('download failed');
  } finally {
    await handle?.close();
  }
}
