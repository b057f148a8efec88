/**
 * CRI-O's pull credentials for lading's mirrors: an auth.json (containers-auth.json(5)) that CRI-O reads
 * through [crio.image] global_auth_file. When the node names one already, lading adds its entries to that
 * file; otherwise it writes its own file and a drop-in naming it. Entries of others are kept as they are.
 * Credentials only ever travel on stdin and land in files of mode 600.
 */
import { AbortError, ExitCode } from '../errors.js';
import { printable } from '../util/printable.js';
import { render } from './templates.js';
import { tomlString } from './toml.js';

export const CRIO_AUTH_DROP_IN = '/etc/crio/crio.conf.d/99-lading-auth.conf';
export const CRIO_AUTH_FILE = '/etc/crio/lading-auth.json';
/** Where lading merges into an auth file the node already names (the directories --restore may touch). */
export const CRIO_AUTH_DIRS = ['/etc/crio', '/etc/containers'];

export function crioAuthDropIn(): string {
  return render('crio/auth.conf', { file: tomlString(CRIO_AUTH_FILE) });
}

/** host:port -> `Basic BASE64` (the form the mirror credentials have everywhere in lading). */
export type HostAuth = ReadonlyMap<string, string>;

/**
 * `existing` with an entry per host in `wanted` (auths.HOST.auth); undefined when nothing changes. An
 * existing file that is not an auth.json is refused, never overwritten.
 */
export function mergeAuthJson(existing: string | undefined, wanted: HostAuth, file: string): string | undefined {
  let document: { auths?: Record<string, { auth?: string } & Record<string, unknown>> } & Record<string, unknown> = {};
  if (existing !== undefined && existing.trim() !== '') {
    try {
      document = JSON.parse(existing) as typeof document;
    } catch {
      document = null as unknown as typeof document;
    }
    if (!document || typeof document !== 'object' || Array.isArray(document) || (document.auths !== undefined && (typeof document.auths !== 'object' || document.auths === null || Array.isArray(document.auths)))) {
      throw new AbortError(`${printable(file)} is not an auth.json (a JSON object with "auths"): lading will not overwrite it`, {
        exitCode: ExitCode.node,
        hint: 'Fix or remove the file that [crio.image] global_auth_file names, and run install again.',
      });
    }
  }
  const auths = { ...(document.auths ?? {}) };
  let changed = false;
  for (const [host, header] of wanted) {
    const auth = header.replace(/^Basic /, '');
    if (auths[host]?.auth === auth) continue;
    auths[host] = { ...(auths[host] ?? {}), auth };
    changed = true;
  }
  if (!changed) return undefined;
  return `${JSON.stringify({ ...document, auths }, null, 2)}\n`;
}
