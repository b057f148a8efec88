/**
 * Files a killed run (SIGKILL, power loss) leaves behind: the cache's partial
 * downloads and the bundle writer's temporary file. Both carry the writing
 * process's id, so the next run removes exactly those whose writer is gone,
 * and nothing else (only lading's own name patterns match).
 */
import { lstat, readdir, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** A partial download older than this is stale even if its pid was reused by another process. */
export const STALE_PART_AGE_MS = 24 * 60 * 60 * 1000;

/** `<64 hex>.part-<pid>-<8 hex>`, as BlobCache names its partial downloads. */
const CACHE_PART = /^[a-f0-9]{64}\.part-(\d{1,10})-[a-f0-9]{8}$/;

/** Whether a process with this id exists; when unsure (any answer but ESRCH), it does. */
export function isProcessAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  // 0 and negative ids would address process groups; such a pid was never lading's.
  if (!Number.isSafeInteger(pid) || pid <= 0 || pid > 0x7fffffff) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** The pid in a cache partial file's name, or undefined for any other name. */
export function cachePartOwner(name: string): number | undefined {
  const match = CACHE_PART.exec(name);
  return match ? Number(match[1]) : undefined;
}

/** The pid in `.NAME.partial-PID` (or a split bundle's `.NAME.partial-PID.001`) beside an output called NAME, or undefined for any other name. */
export function bundlePartialOwner(name: string, outputName: string): number | undefined {
  const prefix = `.${outputName}.partial-`;
  if (!name.startsWith(prefix)) return undefined;
  const match = /^(\d{1,10})(?:\.\d{3})?$/.exec(name.slice(prefix.length));
  return match ? Number(match[1]) : undefined;
}

async function removeFiles(dir: string, stale: (name: string, mtimeMs: number) => boolean): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    const path = join(dir, name);
    const info = await lstat(path).catch(() => undefined);
    if (!info?.isFile() || !stale(name, info.mtimeMs)) continue;
    if (await unlink(path).then(() => true, () => false)) removed.push(name);
  }
  return removed;
}

/** Removes partial downloads in a cache's sha256 directory whose process is gone or that are a day old. */
export function removeStaleCacheParts(dir: string, now = Date.now()): Promise<string[]> {
  return removeFiles(dir, (name, mtimeMs) => {
    const pid = cachePartOwner(name);
    if (pid === undefined) return false;
    // Our own partial files are in use; a day-old one of another live process was abandoned.
    if (pid === process.pid) return false;
    return !isProcessAlive(pid) || now - mtimeMs > STALE_PART_AGE_MS;
  });
}

/** Removes temporary bundle files of dead processes beside `outputPath` (for the same output name only). */
export function removeDeadBundlePartials(outputPath: string): Promise<string[]> {
  const outputName = basename(outputPath);
  return removeFiles(dirname(outputPath), (name) => {
    const pid = bundlePartialOwner(name, outputName);
    return pid !== undefined && pid !== process.pid && !isProcessAlive(pid);
  });
}
