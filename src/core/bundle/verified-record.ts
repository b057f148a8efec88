/**
 * A note that a bundle file was hashed whole and held, kept outside the bundle
 * (`~/.cache/lading/verified/`), so installing the same unchanged file again
 * need not hash every blob again (1 GiB: about 0.8 s, on every run).
 *
 * The note names the file as it was then: its real path, size, inode, device,
 * mtime and ctime (nanoseconds), and the same for each part of a split
 * bundle and its list. Any write, truncation, rename over it or copy changes
 * one of them; ctime cannot be set back from user space. A file changed less
 * than a second before its hashing ended gets no note (file times are coarse).
 * A file that does not match its note exactly is hashed in full again. The bytes an install streams
 * are hashed as they flow in any case, and the runtime checks each blob's
 * digest again: the note only spares the pass before any node is touched.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdir, open, readdir, realpath, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { findPartsList, readPartsList } from './parts.js';

/** Notes kept at most; the oldest go first. */
const MAX_NOTES = 200;
/**
 * A file changed this recently is not noted: file times come from a coarse clock (a few ms), so a write
 * right after the hashing read could leave the times as they were (git's "racy" files).
 */
export const RACY_MS = 1000;

export function verifiedNotesDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'lading', 'verified');
}

interface FileIdentity {
  path: string;
  size: string;
  ino: string;
  dev: string;
  mtimeNs: string;
  ctimeNs: string;
}

async function identityOf(path: string): Promise<FileIdentity> {
  const real = await realpath(path);
  const info = await stat(real, { bigint: true });
  if (!info.isFile()) throw new Error(`${path} is not a regular file`);
  return { path: real, size: String(info.size), ino: String(info.ino), dev: String(info.dev), mtimeNs: String(info.mtimeNs), ctimeNs: String(info.ctimeNs) };
}

/** Every file the bundle's bytes come from: the file, or a split bundle's list and parts. */
async function bundleIdentity(bundle: string): Promise<FileIdentity[]> {
  const list = await findPartsList(bundle);
  if (!list) return [await identityOf(bundle)];
  const parts = (await readPartsList(list)).parts.map((p) => join(dirname(list), p.file));
  return Promise.all([list, ...parts].map(identityOf));
}

async function notePath(dir: string, bundle: string): Promise<string> {
  const key = createHash('sha256').update(await realpath(bundle)).digest('hex');
  return join(dir, `${key}.json`);
}

/** A note is a few hundred bytes; anything past NOTE_MAX_BYTES is no note of lading's (read no further). */
const NOTE_MAX_BYTES = 64 << 10;

async function readNote(path: string): Promise<string> {
  // Non-blocking: a FIFO put in its place cannot hang the run.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const buffer = Buffer.alloc(NOTE_MAX_BYTES + 1);
    const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
    if (bytesRead > NOTE_MAX_BYTES) throw new Error(`${path} is larger than a note`);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** When the bundle was last hashed whole and held, if it is still exactly that file; else undefined. */
export async function verifiedEarlier(bundle: string, dir = verifiedNotesDir()): Promise<Date | undefined> {
  try {
    const [text, identity] = await Promise.all([readNote(await notePath(dir, bundle)), bundleIdentity(bundle)]);
    const note = JSON.parse(text) as { files?: unknown; verifiedAt?: unknown };
    if (JSON.stringify(note.files) !== JSON.stringify(identity) || typeof note.verifiedAt !== 'string') return undefined;
    const at = new Date(note.verifiedAt);
    return Number.isNaN(at.getTime()) ? undefined : at;
  } catch {
    return undefined;
  }
}

/**
 * Notes that the bundle was just hashed whole and held. `identityBefore` is what the files were when the
 * hashing started: a file changed meanwhile gets no note. Best effort: without a note the next run hashes.
 */
export async function noteVerified(bundle: string, identityBefore: FileIdentity[] | undefined, dir = verifiedNotesDir()): Promise<void> {
  try {
    const identity = await bundleIdentity(bundle);
    if (!identityBefore || JSON.stringify(identity) !== JSON.stringify(identityBefore)) return;
    const now = BigInt(Date.now()) * 1_000_000n;
    const racy = BigInt(RACY_MS) * 1_000_000n;
    if (identity.some((f) => now - BigInt(f.ctimeNs) < racy || now - BigInt(f.mtimeNs) < racy)) return;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const path = await notePath(dir, bundle);
    const temporary = `${path}.part-${process.pid}-${randomBytes(4).toString('hex')}`;
    await writeFile(temporary, JSON.stringify({ files: identity, verifiedAt: new Date().toISOString() }) + '\n', { flag: 'wx', mode: 0o600 });
    await rename(temporary, path);
    await prune(dir);
  } catch {
    // Without a note, the next install hashes the bundle again: slower, never wrong.
  }
}

/** What the bundle's files are now, to hand to noteVerified after hashing; undefined when unreadable. */
export function identityNow(bundle: string): Promise<FileIdentity[] | undefined> {
  return bundleIdentity(bundle).catch(() => undefined);
}

async function prune(dir: string): Promise<void> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json'));
  if (names.length <= MAX_NOTES) return;
  const aged = await Promise.all(names.map(async (n) => ({ n, at: (await stat(join(dir, n)).catch(() => undefined))?.mtimeMs ?? 0 })));
  aged.sort((a, b) => a.at - b.at);
  for (const { n } of aged.slice(0, aged.length - MAX_NOTES)) await unlink(join(dir, n)).catch(() => undefined);
}
