/**
 * Whether a node has room for what install brings. An import needs the
 * content plus its unpacked layers (about twice the archive), and the image
 * filesystem must stay below the kubelet's image garbage collection
 * threshold afterwards: above imageGCHighThresholdPercent (85 by default) the
 * kubelet deletes images no pod uses, and freshly injected images are exactly
 * those.
 */
import { shellQuote, type HostShell } from '../host.js';
import { formatBytes } from '../progress.js';

export interface DiskSpace {
  /** Bytes free for unprivileged writes (df's Available). */
  available: number;
  /** Size of the filesystem. */
  size: number;
}

/** The kubelet's default imageGCHighThresholdPercent is 85: keep 15 % free. */
export const DEFAULT_KEEP_FREE_PERCENT = 15;

/** What an import takes on the node: the content plus its unpacked layers (about twice), plus a margin. */
export function spaceNeeded(archiveBytes: number): number {
  return archiveBytes * 2 + (256 << 20);
}

/** Undefined when the import fits; otherwise why not, in a phrase that names the sizes. */
export function spaceShortfall(space: DiskSpace, archiveBytes: number, keepFreePercent: number): string | undefined {
  const needed = spaceNeeded(archiveBytes);
  const keep = Math.ceil((space.size * keepFreePercent) / 100);
  if (space.available - needed >= keep) return undefined;
  return (
    `${formatBytes(space.available)} free of ${formatBytes(space.size)}, the import needs about ${formatBytes(needed)}` +
    (keep > 0 ? ` and ${keepFreePercent} % (${formatBytes(keep)}) must stay free` : '')
  );
}

/** df of the filesystem holding `path` on the node (created if missing), or undefined if df says nothing usable. */
export async function diskSpaceAt(shell: HostShell, path: string): Promise<DiskSpace | undefined> {
  const result = await shell.hostExec(`mkdir -p ${shellQuote(path)} && df -Pk ${shellQuote(path)} | tail -n 1`);
  const fields = result.stdout.trim().split(/\s+/);
  const size = Number(fields[1]) * 1024;
  const available = Number(fields[3]) * 1024;
  return result.exitCode === 0 && Number.isFinite(size) && Number.isFinite(available) && size > 0 ? { available, size } : undefined;
}
