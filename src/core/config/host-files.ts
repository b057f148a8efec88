/**
 * Files on a node's host that lading changes, always with a backup first:
 * the first time lading writes a path, the original (or the fact that there
 * was none) is kept under the backup directory; later writes keep that first
 * backup. `restoreHostFiles` puts every original back. Writes are atomic
 * (temporary file, then rename) and content travels on stdin, so secrets in
 * it never appear in a command line.
 */
import { PassThrough } from 'node:stream';
import { AbortError, ExitCode } from '../errors.js';
import { shellQuote, type HostShell } from '../host.js';

export const DEFAULT_BACKUP_DIR = '/var/lib/lading/backups';

/** The file's content, or undefined when it does not exist. */
export async function readHostFile(shell: HostShell, path: string): Promise<string | undefined> {
  const q = shellQuote(path);
  const result = await shell.hostExec(`if [ -e ${q} ]; then echo present; cat ${q}; else echo absent; fi`);
  if (result.exitCode !== 0) {
    throw new AbortError(`node ${shell.node}: cannot read ${path}: ${(result.stderr || result.message).trim()}`, { exitCode: ExitCode.node });
  }
  const newline = result.stdout.indexOf('\n');
  const marker = result.stdout.slice(0, newline === -1 ? undefined : newline);
  return marker === 'present' ? result.stdout.slice(newline + 1) : undefined;
}

export async function writeHostFileWithBackup(
  shell: HostShell,
  path: string,
  content: string,
  backupDir = DEFAULT_BACKUP_DIR,
  options: { secret?: boolean } = {},
): Promise<void> {
  if (!path.startsWith('/')) throw new AbortError(`host paths must be absolute, got ${path}`, { exitCode: ExitCode.usage });
  const f = shellQuote(path);
  // Backups mirror the path: <backupDir>/files/etc/x for a file that existed, <backupDir>/absent/etc/x for one that did not.
  const kept = shellQuote(`${backupDir}/files${path}`);
  const absent = shellQuote(`${backupDir}/absent${path}`);
  const script = [
    'set -e',
    // Only the first backup counts: it is what the node had before lading.
    `if [ ! -e ${kept} ] && [ ! -e ${absent} ]; then`,
    `  if [ -e ${f} ]; then mkdir -p "$(dirname ${kept})"; cp -p ${f} ${kept}; else mkdir -p "$(dirname ${absent})"; : > ${absent}; fi`,
    'fi',
    `mkdir -p "$(dirname ${f})"`,
    // A file holding credentials is readable by root only, from its first byte.
    options.secret ? `(umask 077; cat > ${f}.lading-tmp)` : `cat > ${f}.lading-tmp`,
    options.secret ? `chmod 600 ${f}.lading-tmp` : `if [ -e ${f} ]; then chmod --reference=${f} ${f}.lading-tmp 2>/dev/null || true; fi`,
    `mv ${f}.lading-tmp ${f}`,
  ].join('\n');
  const stdin = new PassThrough();
  stdin.end(content);
  const result = await shell.hostExec(script, { stdin });
  if (result.exitCode !== 0) {
    throw new AbortError(`node ${shell.node}: cannot write ${path}: ${(result.stderr || result.message).trim()}`, { exitCode: ExitCode.node });
  }
}

/** Puts back every file lading backed up on this host (and removes those it created); returns the paths. */
export async function restoreHostFiles(shell: HostShell, backupDir = DEFAULT_BACKUP_DIR): Promise<string[]> {
  const d = shellQuote(backupDir);
  const script = [
    'set -e',
    `cd ${d} 2>/dev/null || exit 0`,
    'if [ -d files ]; then find files -type f | while read -r b; do p=${b#files}; cp -p "$b" "$p"; rm -f "$b"; echo "restored $p"; done; fi',
    'if [ -d absent ]; then find absent -type f | while read -r b; do p=${b#absent}; rm -f "$p"; rm -f "$b"; echo "removed $p"; done; fi',
    'rm -rf files absent',
  ].join('\n');
  const result = await shell.hostExec(script);
  if (result.exitCode !== 0) {
    throw new AbortError(`node ${shell.node}: restoring backups failed: ${(result.stderr || result.message).trim()}`, { exitCode: ExitCode.node });
  }
  return result.stdout
    .split('\n')
    .filter(Boolean)
    .map((line) => line.replace(/^(restored|removed) /, ''));
}
