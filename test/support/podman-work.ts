/** Removes a test's work directory that holds containers-storage stores podman wrote. */
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function removeStoreWork(work: string): Promise<void> {
  // podman leaves overlay mounts and a runroot; unmount what is below the dir before removing it.
  await run('sh', ['-c', `grep -o ' ${work}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`]).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
  await rm(`/run/lading${work.replace(/[^a-zA-Z0-9]+/g, '-')}-store`, { recursive: true, force: true }).catch(() => undefined);
}
