/**
 * `install --restore` on one host: puts back only what lading recorded in the
 * backup directory's manifest (host-files.ts writes it). Each record is
 * checked before it is acted on: a normalised absolute path below a directory
 * lading writes into, its backup exactly where lading would have put it. Each
 * file is then restored by one command of its own, with quoted names and the
 * same on-node link check as a write. Nothing is read from a directory
 * listing, so no file name, however made, can name a path to delete.
 */
import { PassThrough } from 'node:stream';
import { AbortError, ExitCode } from '../errors.js';
import { shellQuote, type HostShell } from '../host.js';
import { printable } from '../util/printable.js';
import { DEFAULT_BACKUP_DIR, nodeSaid, readHostFile } from './host-files.js';
import { OUTSIDE_EXIT, backupPath, dirOf, guardDirs, hostPathProblem, isUnder, manifestPath, type BackupKind } from './host-paths.js';

export interface BackupRecord {
  path: string;
  kind: BackupKind;
  backup: string;
  /** The allowed directory the path is in: the on-node check resolves links against it. */
  base: string;
}

export interface RestoreScope {
  backupDir?: string;
  /** Directories lading writes into on this node; a record for any other path is refused. */
  allowedDirs: string[];
}

export interface RestoreOutcome {
  /** Paths put back (or removed, when lading had created them). */
  restored: string[];
  /** Records refused or failed, and other findings, already printable; nothing was done for them. */
  problems: string[];
}

/** The manifest's records that may be acted on, and a reason for every line that may not. */
export function readManifest(text: string, backupDir: string, allowedDirs: string[]): { records: BackupRecord[]; refused: Array<{ line: string; why: string }> } {
  const records: BackupRecord[] = [];
  const refused: Array<{ line: string; why: string }> = [];
  const seen = new Set<string>();
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const why = recordProblem(line, backupDir, allowedDirs, seen);
    if (typeof why === 'string') refused.push({ line, why: `manifest record ${printable(line.slice(0, 300))}: ${why}` });
    else records.push(why);
  }
  return { records, refused };
}

function recordProblem(line: string, backupDir: string, allowedDirs: string[], seen: Set<string>): BackupRecord | string {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return 'not JSON';
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) return 'not a record';
  const { path, kind, backup, ...rest } = value as Record<string, unknown>;
  if (Object.keys(rest).length) return 'unknown fields';
  if (typeof path !== 'string') return 'no path';
  const problem = hostPathProblem(path);
  if (problem) return `path ${problem}`;
  if (kind !== 'file' && kind !== 'absent') return 'kind is neither file nor absent';
  if (backup !== backupPath(backupDir, path, kind)) return 'its backup is not where lading keeps it';
  if (isUnder(path, backupDir) || path === backupDir) return 'the path is inside the backup directory';
  const base = allowedDirs.filter((d) => isUnder(path, d)).sort((a, b) => b.length - a.length)[0];
  if (!base) return `not below a directory lading writes into (${allowedDirs.join(', ')})`;
  if (seen.has(path)) return 'recorded twice (the first record counts)';
  seen.add(path);
  return { path, kind, backup, base };
}

/** One file put back (or removed), by one command. */
function restoreScript(record: BackupRecord, backupDir: string): string {
  const [p, b, tmp] = [record.path, record.backup, `${record.path}.lading-tmp`].map(shellQuote);
  const guard = guardDirs([[dirOf(record.path), record.base], [dirOf(record.backup), backupDir]]);
  if (record.kind === 'file') {
    return ['set -e', guard, `[ -f ${b} ] || { echo 'its backup is missing' >&2; exit 5; }`, `mkdir -p ${shellQuote(dirOf(record.path))}`, `rm -f ${tmp}`, `cp -p ${b} ${tmp}`, `mv -f ${tmp} ${p}`, `rm -f ${b}`].join('\n');
  }
  return ['set -e', guard, `if [ -d ${p} ] && [ ! -L ${p} ]; then echo 'it is a directory now' >&2; exit 5; fi`, `rm -f ${p}`, `rm -f ${b}`].join('\n');
}

/** Puts back every file lading recorded on this host (and removes those it created). */
export async function restoreHostFiles(shell: HostShell, scope: RestoreScope): Promise<RestoreOutcome> {
  const backupDir = (scope.backupDir ?? DEFAULT_BACKUP_DIR).replace(/(.)\/+$/, '$1');
  const problem = hostPathProblem(backupDir);
  if (problem) throw new AbortError(`backup directory ${printable(backupDir)} refused: ${problem}`, { exitCode: ExitCode.usage });
  const text = await readHostFile(shell, manifestPath(backupDir));
  if (text === undefined) {
    if (await holdsUnrecorded(shell, backupDir)) throw olderBackups(shell.node, backupDir);
    return { restored: [], problems: [] };
  }
  const { records, refused } = readManifest(text, backupDir, scope.allowedDirs);
  const restored: string[] = [];
  const problems = refused.map((r) => r.why);
  const kept = refused.map((r) => r.line);
  for (const record of records) {
    const result = await shell.hostExec(restoreScript(record, backupDir));
    if (result.exitCode === 0) restored.push(record.path);
    else {
      problems.push(`${printable(record.path)}: ${result.exitCode === OUTSIDE_EXIT ? 'refused, ' : ''}${nodeSaid(result)}`);
      kept.push(JSON.stringify({ path: record.path, kind: record.kind, backup: record.backup }));
    }
  }
  if (await finish(shell, backupDir, kept)) {
    problems.push(`files that are not in the manifest remain under ${printable(backupDir)}/files or /absent; lading left them alone`);
  }
  return { restored, problems };
}

/** Keeps the manifest lines not acted on (or removes the manifest), prunes empty backup folders; true when files nobody recorded remain. */
async function finish(shell: HostShell, backupDir: string, kept: string[]): Promise<boolean> {
  const d = shellQuote(backupDir);
  const manifest = shellQuote(manifestPath(backupDir));
  const stdin = new PassThrough();
  stdin.end(kept.map((line) => `${line}\n`).join(''));
  const result = await shell.hostExec(
    [
      'set -e',
      kept.length ? `cat > ${manifest}.tmp; mv -f ${manifest}.tmp ${manifest}` : `cat > /dev/null; rm -f ${manifest}`,
      `cd ${d}`,
      // rmdir removes only empty directories and never follows a link.
      'find files absent -depth -type d -exec rmdir {} \\; 2>/dev/null || true',
      // Once every record is done, anything left was never recorded (what is still recorded stays, by design).
      kept.length ? '' : 'if find files absent ! -type d 2>/dev/null | grep -q .; then echo unrecorded; fi',
    ].join('\n'),
    { stdin },
  );
  if (result.exitCode !== 0) {
    throw new AbortError(`node ${shell.node}: could not update ${printable(manifestPath(backupDir))}: ${nodeSaid(result)}`, { exitCode: ExitCode.node });
  }
  return result.stdout.includes('unrecorded');
}

async function holdsUnrecorded(shell: HostShell, backupDir: string): Promise<boolean> {
  const result = await shell.hostExec(`cd ${shellQuote(backupDir)} 2>/dev/null || exit 0\nif find files absent ! -type d 2>/dev/null | grep -q .; then echo unrecorded; fi`);
  return result.stdout.includes('unrecorded');
}

function olderBackups(node: string, backupDir: string): AbortError {
  const d = printable(backupDir);
  return new AbortError(`node ${node}: ${d} holds backups without a manifest (written by an older lading); lading restores only what it recorded, so it changed nothing`, {
    exitCode: ExitCode.node,
    hint: `Restore them by hand on the node: ${d}/files/PATH is the original of /PATH; ${d}/absent/PATH means /PATH did not exist (remove it); then delete ${d}/files and ${d}/absent.`,
  });
}

/** The error for a node where some records could not be restored (the others were). */
export function incompleteRestore(node: string, backupDir: string | undefined, problems: string[]): AbortError {
  return new AbortError(`node ${node}: not everything was restored: ${problems.join('; ')}`, {
    exitCode: ExitCode.node,
    hint: `What was not restored is still recorded in ${printable(manifestPath(backupDir ?? DEFAULT_BACKUP_DIR))}; check it and those files on the node, and restore them by hand.`,
  });
}
