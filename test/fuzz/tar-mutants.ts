/**
 * Hostile tars for the fuzzers: corpus tars mutated the ways an attacker (or
 * a bad disk) would, mostly keeping checksums right so the mutation reaches
 * the checks behind the checksum.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { AbortError, ExitCode } from '../../src/core/errors.js';
import { normaliseName } from '../../src/core/bundle/tar-header.js';
import { walkTarHeaders, type TarEntry, type TarSource } from '../../src/core/bundle/tar-walk.js';
import { printable } from '../../src/core/util/printable.js';
import { corpus } from '../support/hostile-tar-corpus.js';
import { BLOCK, header, pax, paxRecord, setChecksum } from '../support/hostile-tar.js';

/** Header fields (offset, length) worth aiming at. */
const FIELDS = [
  [0, 100], [100, 8], [124, 12], [136, 12], [148, 8], [156, 1], [257, 8], [329, 16], [345, 155], [345, 24], [508, 4],
] as const;
const NAMES = ['index.json', './index.json', './/index.json', 'a/./b', 'a/', '.', './', '', '/abs', '../x', 'a\\b', 'a\nb', 'blobs', 'blobs/sha256/x'];
const KEYS = ['path', 'size', 'linkpath', 'mtime', 'uid', 'comment', 'hdrcharset', 'GNU.sparse.size', 'SCHILY.xattr.a', 'SCHILY.realsize', 'x', ''];
const TYPES = ['0', '\0', '1', '2', '5', '7', 'x', 'g', 'L', 'K', 'S', 'V', 'Z', '\xff'];

const value = fc.oneof(fc.constantFrom(...NAMES), fc.constantFrom('0', '1', '512', '600', '-1', '+5', '05', '9007199254740993', ''), fc.string({ maxLength: 20 }));
const bytes = (max: number) => fc.uint8Array({ maxLength: max }).map((a) => Buffer.from(a));

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), block: fc.nat(), at: fc.nat(BLOCK - 1), byte: fc.nat(255), fix: fc.boolean() }),
  fc.record({ kind: fc.constant('field' as const), block: fc.nat(), field: fc.nat(FIELDS.length - 1), data: fc.oneof(bytes(24), value.map((v) => Buffer.from(v))), fix: fc.boolean() }),
  fc.record({ kind: fc.constant('type' as const), block: fc.nat(), type: fc.constantFrom(...TYPES) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), block: fc.nat(), what: fc.constantFrom('zero', 'copy', 'random'), data: bytes(BLOCK) }),
  fc.record({ kind: fc.constant('pax' as const), block: fc.nat(), global: fc.boolean(), records: fc.array(fc.tuple(fc.constantFrom(...KEYS), value), { maxLength: 3 }), skew: fc.integer({ min: -2, max: 2 }) }),
  fc.record({ kind: fc.constant('append' as const), data: bytes(1200) }),
);
export type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function fix(tar: Buffer, block: number): void {
  const at = block * BLOCK;
  if (at + BLOCK <= tar.length && tar.subarray(at, at + BLOCK).some((b) => b !== 0)) setChecksum(tar.subarray(at, at + BLOCK));
}

export function mutate(seed: Buffer, mutations: Mutation[]): Buffer {
  let tar = Buffer.from(seed);
  for (const m of mutations) {
    const blocks = Math.max(1, Math.floor(tar.length / BLOCK));
    if (m.kind === 'flip' || m.kind === 'field' || m.kind === 'type') {
      const block = m.block % blocks;
      const base = block * BLOCK;
      if (base + BLOCK > tar.length) continue;
      if (m.kind === 'flip') tar[base + m.at] = m.byte;
      if (m.kind === 'type') tar.write(m.type, base + 156, 'latin1');
      if (m.kind === 'field') {
        const [start, length] = FIELDS[m.field]!;
        tar.fill(0, base + start, base + start + length);
        m.data.copy(tar, base + start, 0, Math.min(length, m.data.length));
      }
      if (m.kind === 'type' || m.fix) fix(tar, block);
    } else if (m.kind === 'truncate') {
      tar = tar.subarray(0, m.at % (tar.length + 1));
    } else if (m.kind === 'insert') {
      const at = (m.block % (blocks + 1)) * BLOCK;
      const block = m.what === 'zero' ? Buffer.alloc(BLOCK) : m.what === 'copy' ? Buffer.from(tar.subarray(0, BLOCK)) : Buffer.concat([m.data, Buffer.alloc(BLOCK)]).subarray(0, BLOCK);
      tar = Buffer.concat([tar.subarray(0, at), block, tar.subarray(at)]);
    } else if (m.kind === 'pax') {
      const at = (m.block % (blocks + 1)) * BLOCK;
      let data = Buffer.concat(m.records.map(([k, v]) => paxRecord(k, v)));
      if (m.skew !== 0 && data.length > 0) data = Buffer.concat([Buffer.from(String(data.length + m.skew)), data.subarray(data.indexOf(0x20))]);
      tar = Buffer.concat([tar.subarray(0, at), pax(data, { type: m.global ? 'g' : 'x' }), tar.subarray(at)]);
    } else {
      tar = Buffer.concat([tar, m.data]);
    }
  }
  return tar;
}

export const seeds: Buffer[] = [
  ...corpus().map((c) => c.bytes),
  Buffer.concat([header({ name: 'big', size: 3 * BLOCK }), Buffer.alloc(3 * BLOCK, 0x41), Buffer.alloc(2 * BLOCK)]),
];

/** A seed and its mutations: what fast-check prints for a counterexample (the tar itself would be KiBs of numbers). */
export const planOf = (maxMutations: number) => fc.record({ seed: fc.nat(seeds.length - 1), mutations: fc.array(mutation, { minLength: 1, maxLength: maxMutations }) });
export const plan = planOf(5);
export type Plan = typeof plan extends fc.Arbitrary<infer P> ? P : never;

export function build(p: Plan): Buffer {
  return mutate(seeds[p.seed]!, p.mutations);
}

/** Keeps a failing tar for a rerun by hand; its path goes into the failure. */
export function keep(tar: Buffer, error: unknown): Error {
  const file = join(tmpdir(), `lading-fuzz-${createHash('sha256').update(tar).digest('hex').slice(0, 12)}.tar`);
  writeFileSync(file, tar);
  return new Error(`${error instanceof Error ? error.message : String(error)}\n  the tar: ${file}`);
}

export function memorySource(bytes: Buffer): TarSource {
  return {
    read: async (buffer, offset, length, position) => {
      const n = Math.max(0, Math.min(length, bytes.length - position));
      bytes.copy(buffer, offset, position, position + n);
      return { bytesRead: n };
    },
  };
}

export const FUZZ_PATH = '/fuzz/bundle.tar';
/** Per tar, far above what a few KiB take: a walk that loops or goes quadratic fails it. */
export const WALK_TIME_LIMIT_MS = 2000;

/**
 * The property: the walk returns entries that lie inside the file, do not
 * overlap and have safe normalised names, or refuses with exit code 7 and one
 * printable line; never another error, never slowly.
 */
export async function checkWalk(tar: Buffer): Promise<Map<string, TarEntry> | AbortError> {
  const started = performance.now();
  let result: Map<string, TarEntry> | AbortError;
  try {
    result = await walkTarHeaders(FUZZ_PATH, memorySource(tar), tar.length);
  } catch (error) {
    if (!(error instanceof AbortError)) throw new Error(`not an AbortError: ${String((error as Error)?.stack ?? error)}`);
    if (error.exitCode !== ExitCode.bundle) throw new Error(`exit code ${error.exitCode}: ${error.message}`);
    if (!error.message.startsWith(`${FUZZ_PATH}: `) || printable(error.message) !== error.message) throw new Error(`not one printable line: ${JSON.stringify(error.message)}`);
    result = error;
  }
  const took = performance.now() - started;
  if (took > WALK_TIME_LIMIT_MS) throw new Error(`the walk took ${Math.round(took)} ms for ${tar.length} bytes`);
  if (result instanceof AbortError) return result;
  let end = 0;
  for (const entry of [...result.values()].sort((a, b) => a.offset - b.offset)) {
    if (entry.offset % BLOCK !== 0 || entry.offset - BLOCK < end || entry.offset + entry.size > tar.length) throw new Error(`entry out of place: ${JSON.stringify(entry)} (previous data ends at ${end})`);
    if (entry.name === '' || normaliseName(entry.name) !== entry.name) throw new Error(`name not normalised: ${JSON.stringify(entry.name)}`);
    end = entry.offset + entry.size;
  }
  return result;
}
