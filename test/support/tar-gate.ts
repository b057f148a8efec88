/**
 * A stream gate for tests of archives unpacked as they arrive: bytes pass until the tar header of the
 * entry `name` (found at its 512-byte block), then `slack` bytes more (tar reads whole records), and
 * then either the stream ends there ('cut') or waits until `until()` resolves before the rest flows.
 */
import { Transform, type TransformCallback } from 'node:stream';

const BLOCK = 512;

export function gateAfterEntry(name: string, then: { cut: true } | { until: () => Promise<void>; slack?: number }): Transform {
  const needle = Buffer.from(`${name}\0`);
  let offset = 0; // bytes of the stream seen so far
  let tail = Buffer.alloc(0); // the last bytes of the previous chunk, for a header across two chunks
  let passUntil: number | undefined; // where the gate closes, once the header is found
  let held = false;
  return new Transform({
    transform(chunk: Buffer, _encoding, done: TransformCallback) {
      if (held && 'cut' in then) {
        done(); // the stream has ended for the reader: the rest is dropped
        return;
      }
      const start = offset - tail.length;
      const data = Buffer.concat([tail, chunk]);
      offset += chunk.length;
      if (passUntil === undefined) {
        for (let p = (BLOCK - (start % BLOCK)) % BLOCK; p + needle.length <= data.length; p += BLOCK) {
          if (data.subarray(p, p + needle.length).equals(needle)) {
            passUntil = start + p + BLOCK + ('cut' in then ? 0 : (then.slack ?? 64 * 1024));
            break;
          }
        }
        tail = data.subarray(Math.max(0, data.length - BLOCK));
      }
      const chunkStart = offset - chunk.length;
      if (passUntil === undefined || held || offset <= passUntil) {
        done(null, chunk);
        return;
      }
      const before = chunk.subarray(0, Math.max(0, passUntil - chunkStart));
      const after = chunk.subarray(before.length);
      if (before.length) this.push(before);
      held = true;
      if ('cut' in then) {
        this.push(null);
        done();
        return;
      }
      then.until().then(() => done(null, after), done);
    },
  });
}
