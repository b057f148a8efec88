/**
 * A HostShell whose / is a directory the test fills: the script runs chrooted
 * into it (as lading's agent runs chrooted into a node's root), in a private
 * mount namespace where this machine's /usr and /dev are bound in so /bin/sh
 * and the usual tools work. So a test can give a "node" its own /etc, /var
 * and even /proc files (a fake /proc/PID/comm and cmdline) without touching
 * this machine's. Needs root (unshare, mount, chroot), as CI has.
 */
import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { HostShell } from '../../src/core/host.js';
import { shellQuote } from '../../src/core/host.js';
import { requireTool } from './tools.js';
import { runShell } from './local-shell.js';

/** Prepares `root` (creates usr, dev, tmp and the merged-/usr links) and returns a shell into it. */
export async function chrootShell(root: string, node = 'chrooted'): Promise<HostShell> {
  const unshare = requireTool('unshare', 'install it with `apt-get install util-linux`');
  for (const dir of ['usr', 'dev', 'tmp', 'proc', 'etc', 'var', 'run']) await mkdir(join(root, dir), { recursive: true });
  for (const [link, target] of [['bin', 'usr/bin'], ['sbin', 'usr/sbin'], ['lib', 'usr/lib'], ['lib64', 'usr/lib64']]) {
    await symlink(target!, join(root, link!)).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
  const r = shellQuote(root);
  const setup = `mount --bind /usr ${r}/usr && mount --bind /dev ${r}/dev && exec chroot ${r} /bin/sh -c "$1"`;
  return {
    node,
    hostExec: (script, options = {}) => runShell(unshare, ['--mount', '--propagation', 'private', '/bin/sh', '-c', setup, 'lading-chroot', script], options.stdin),
  };
}
