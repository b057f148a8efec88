/**
 * Small positioned reads served from one window of the file read ahead. A bundle's
 * headers and documents are many reads of a few hundred bytes, mostly in file order;
 * each one a round trip to the thread pool left the walk of a 2,000-image bundle idle
 * for 0.6 s. Large reads (blobs) pass straight through.
 */
import type { TarSource } from './tar-walk.js';

export const WINDOW_BYTES = 64 << 10;

export function readAhead(source: TarSource, fileSize: number, windowBytes = WINDOW_BYTES): TarSource {
  // Replaced whole on refill, never written in place: a read still copying from the last window keeps it.
  let window: { start: number; bytes: Buffer } | undefined;
  return {
    async read(buffer, offset, length, position) {
      if (length > windowBytes / 2) return source.read(buffer, offset, length, position);
      let current = window;
      if (!current || position < current.start || position + length > current.start + current.bytes.length) {
        const bytes = Buffer.allocUnsafe(Math.max(length, Math.min(windowBytes, fileSize - position)));
        const { bytesRead } = await source.read(bytes, 0, bytes.length, position);
        current = window = { start: position, bytes: bytes.subarray(0, bytesRead) };
      }
      const from = position - current.start;
      const bytesRead = Math.max(0, Math.min(length, current.bytes.length - from));
      current.bytes.copy(buffer, offset, from, from + bytesRead);
      return { bytesRead };
    },
  };
}
