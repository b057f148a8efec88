/** Removes a test's work directory that holds containers-storage stores podman wrote. */
import { execFile } from 'node:child_process';
import { readdir, rm } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function removeStoreWork(work: string): Promise<void> {
  // podman leaves overlay mounts and a runroot; unmount what is below the dir before removing it.
  await run('sh', ['-c', `grep -o ' ${work}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`]).catch(() => undefined);
  await rm(work, { recursive: true, force: true });
  // the runroots lading chose for stores below it (runrootFor: /run/lading/ and the path, dashed)
  const prefix = work.replace(/[^a-zA-Z0-9]+/g, '-').replace(/^-/, '');
  for (const name of await readdir('/run/lading').catch(() => [] as string[])) {
    if (name.startsWith(prefix)) await rm(`/run/lading/${name}`, { recursive: true, force: true }).catch(() => undefined);
  }
}
