/**
 * Node paths lading writes, backs up and restores: checked in TypeScript
 * (absolute, normalised, printable, below the directory meant) and again on
 * the node, where only the node can tell where a symbolic link leads: before
 * anything is written or removed, the directory's real location (links
 * resolved) must be the expected base directory or below it.
 */
import { posix } from 'node:path';
import { shellQuote } from '../host.js';

/** Why `path` cannot be a host path lading touches, or undefined when it can. */
export function hostPathProblem(path: string): string | undefined {
  if (typeof path !== 'string' || !path.startsWith('/')) return 'not an absolute path';
  if (path.length > 4096) return 'longer than 4096 characters';
  if (/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/.test(path)) return 'holds a control character or a line break';
  if (path !== '/' && (path.endsWith('/') || path.split('/').slice(1).some((s) => s === '' || s === '.' || s === '..'))) return 'not normalised (//, . or ..)';
  return undefined;
}

/** `path` is strictly below `dir` (lexically; the node checks links). */
export function isUnder(path: string, dir: string): boolean {
  const base = dir.replace(/\/+$/, '');
  return path.startsWith(`${base}/`) && path.length > base.length + 1;
}

export type BackupKind = 'file' | 'absent';

/** Where lading keeps the original of `path` (kind file) or the mark that there was none (kind absent). */
export function backupPath(backupDir: string, path: string, kind: BackupKind): string {
  return `${backupDir.replace(/\/+$/, '')}/${kind === 'file' ? 'files' : 'absent'}${path}`;
}

export function manifestPath(backupDir: string): string {
  return `${backupDir.replace(/\/+$/, '')}/manifest`;
}

export const dirOf = (path: string) => posix.dirname(path);

/**
 * POSIX sh (dash, busybox ash): `lading_real DIR` prints DIR's physical path
 * even when its last parts do not exist yet (the deepest existing ancestor
 * resolved by `cd -P`, the rest appended: a part that does not exist cannot be
 * a link); `lading_under DIR BASE` fails, saying why, unless DIR resolves to
 * BASE or below it. No realpath/readlink -f: not every host has them.
 */
const FUNCTIONS = [
  'unset CDPATH',
  'lading_real() {',
  '  p=$1; rest=',
  '  while [ ! -e "$p" ] && [ ! -L "$p" ]; do rest="/${p##*/}$rest"; p=${p%/*}; [ -n "$p" ] || p=/; done',
  `  p=$(cd -P -- "$p" 2>/dev/null && pwd -P) || { printf '%s cannot be resolved (a dangling link, or not a directory)\\n' "$1" >&2; return 1; }`,
  `  printf '%s\\n' "\${p%/}$rest"`,
  '}',
  'lading_under() {',
  '  d=$(lading_real "$1") && b=$(lading_real "$2") || return 1',
  '  case "$d/" in "${b%/}"/*) return 0 ;; esac',
  `  printf '%s resolves to %s, outside %s\\n' "$1" "$d" "$b" >&2`,
  '  return 1',
  '}',
].join('\n');

/** Exit status of a script refused by `guardDirs`. */
export const OUTSIDE_EXIT = 4;

/** Shell lines: the functions above, then each [dir, base] pair checked; the script exits OUTSIDE_EXIT on the first refusal. */
export function guardDirs(pairs: Array<[dir: string, base: string]>): string {
  return [FUNCTIONS, ...pairs.map(([dir, base]) => `lading_under ${shellQuote(dir)} ${shellQuote(base)} || exit ${OUTSIDE_EXIT}`)].join('\n');
}
