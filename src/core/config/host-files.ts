/**
 * Files on a node's host that lading changes, always with a backup first:
 * the first time lading writes a path, the original (or the fact that there
 * was none) is kept under the backup directory and one record of it is added
 * to the directory's manifest; later writes keep that first backup. Only the
 * manifest tells `restoreHostFiles` (host-restore.ts) what to put back. Writes
 * are atomic (temporary file, then rename, which replaces a link instead of
 * writing through it); content and records travel on stdin, so neither
 * secrets nor names ever appear in a command line.
 */
import { PassThrough } from 'node:stream';
import { AbortError, BugError, ExitCode } from '../errors.js';
import { shellQuote, type HostShell } from '../host.js';
import { printable } from '../util/printable.js';
import { OUTSIDE_EXIT, backupPath, dirOf, guardDirs, hostPathProblem, isUnder, manifestPath } from './host-paths.js';

export const DEFAULT_BACKUP_DIR = '/var/lib/lading/backups';

/** What a node said on stderr, safe to show. */
export const nodeSaid = (result: { stderr: string; message: string }) => printable((result.stderr || result.message).trim().slice(-500));

/** The file's content, or undefined when it does not exist. */
export async function readHostFile(shell: HostShell, path: string): Promise<string | undefined> {
  const q = shellQuote(path);
  const result = await shell.hostExec(`if [ -e ${q} ]; then echo present; cat ${q}; else echo absent; fi`);
  if (result.exitCode !== 0) {
    throw new AbortError(`node ${shell.node}: cannot read ${printable(path)}: ${nodeSaid(result)}`, { exitCode: ExitCode.node });
  }
  const newline = result.stdout.indexOf('\n');
  const marker = result.stdout.slice(0, newline === -1 ? undefined : newline);
  return marker === 'present' ? result.stdout.slice(newline + 1) : undefined;
}

export interface WriteOptions {
  /** Readable by root only (mode 600), from the first byte. */
  secret?: boolean;
  /** The directory `path` must stay in once links are resolved (default: its own directory). */
  base?: string;
}

/** One manifest line: JSON, so no name can split it or forge another record. */
export const manifestRecord = (path: string, kind: 'file' | 'absent', backupDir: string) => JSON.stringify({ path, kind, backup: backupPath(backupDir, path, kind) });

export async function writeHostFileWithBackup(
  shell: HostShell,
  path: string,
  content: string,
  backupDir = DEFAULT_BACKUP_DIR,
  options: WriteOptions = {},
): Promise<void> {
  backupDir = backupDir.replace(/(.)\/+$/, '$1');
  const base = options.base ?? dirOf(path);
  for (const [what, value] of [['path', path], ['base directory', base], ['backup directory', backupDir]] as const) {
    const problem = hostPathProblem(value);
    if (problem) throw new AbortError(`host ${what} ${printable(value)} refused: ${problem}`, { exitCode: ExitCode.usage });
  }
  if (!isUnder(path, base)) throw new BugError(`${path} is not below ${base}`);
  const [f, kept, absent, manifest] = [path, backupPath(backupDir, path, 'file'), backupPath(backupDir, path, 'absent'), manifestPath(backupDir)].map(shellQuote);
  const tmp = shellQuote(`${path}.lading-tmp`);
  const script = [
    'set -e',
    guardDirs([[dirOf(path), base], [dirOf(backupPath(backupDir, path, 'file')), backupDir], [dirOf(backupPath(backupDir, path, 'absent')), backupDir]]),
    // stdin: the record for "the original is kept", the record for "there was none", then the content.
    'IFS= read -r file_record; IFS= read -r absent_record',
    `if [ -e ${kept} ] || [ -e ${absent} ]; then`,
    // Backed up before: recorded then, or by an older lading without a manifest (recorded now, for this path only).
    `  if ! { [ -f ${manifest} ] && grep -qxF -e "$file_record" -e "$absent_record" ${manifest}; }; then`,
    `    if [ -e ${kept} ]; then printf '%s\\n' "$file_record"; else printf '%s\\n' "$absent_record"; fi >> ${manifest}`,
    '  fi',
    `elif [ -e ${f} ]; then`,
    `  mkdir -p ${shellQuote(dirOf(backupPath(backupDir, path, 'file')))}; cp -p ${f} ${kept}; printf '%s\\n' "$file_record" >> ${manifest}`,
    'else',
    `  mkdir -p ${shellQuote(dirOf(backupPath(backupDir, path, 'absent')))}; : > ${absent}; printf '%s\\n' "$absent_record" >> ${manifest}`,
    'fi',
    `mkdir -p ${shellQuote(dirOf(path))}`,
    `rm -f ${tmp}`,
    options.secret ? `(umask 077; cat > ${tmp})` : `cat > ${tmp}`,
    options.secret ? `chmod 600 ${tmp}` : `if [ -e ${f} ]; then chmod --reference=${f} ${tmp} 2>/dev/null || true; fi`,
    `mv -f ${tmp} ${f}`,
  ].join('\n');
  const stdin = new PassThrough();
  stdin.end(`${manifestRecord(path, 'file', backupDir)}\n${manifestRecord(path, 'absent', backupDir)}\n${content}`);
  const result = await shell.hostExec(script, { stdin });
  if (result.exitCode === OUTSIDE_EXIT) {
    throw new AbortError(`node ${shell.node}: refused to write ${printable(path)}: ${nodeSaid(result)}`, {
      exitCode: ExitCode.node,
      hint: `A symbolic link leads out of ${printable(base)}; lading writes only below it. Check the link on the node.`,
    });
  }
  if (result.exitCode !== 0) {
    throw new AbortError(`node ${shell.node}: cannot write ${printable(path)}: ${nodeSaid(result)}`, { exitCode: ExitCode.node });
  }
}
