/**
 * One host's Authorization header in an existing hosts.toml, changed by the
 * smallest text edit (one line replaced, one line or one table added), so
 * comments and every other entry stay as they were. The caller parses the
 * result again and compares it with the original before anything is written;
 * a file in a form this edit does not know is refused there, not guessed at.
 */
import { parse } from 'smol-toml';
import { tomlString, type TomlTable } from './toml.js';

/** The header's key in a host's `header` table, in whatever case the file wrote it (HTTP names ignore case). */
export function authorizationKey(header: unknown): string | undefined {
  if (!header || typeof header !== 'object') return undefined;
  return Object.keys(header).find((k) => k.toLowerCase() === 'authorization');
}

/** The Authorization value a host table sends, if any. */
export function authorizationOf(host: unknown): unknown {
  const header = (host as TomlTable | undefined)?.header as TomlTable | undefined;
  const key = authorizationKey(header);
  return key === undefined ? undefined : header![key];
}

/** The key path of a table header line (`[host."x".header]  # note`), or undefined for any other line. */
function tablePath(line: string): string[] | undefined {
  if (!/^\s*\[/.test(line)) return undefined;
  if (/^\s*\[\[/.test(line)) return ['[['];
  let node: unknown;
  try {
    node = parse(line);
  } catch {
    return undefined;
  }
  const path: string[] = [];
  while (node && typeof node === 'object' && Object.keys(node).length === 1) {
    const key = Object.keys(node)[0]!;
    path.push(key);
    node = (node as TomlTable)[key];
  }
  return path;
}

const samePath = (a: string[] | undefined, b: string[]) => a !== undefined && a.length === b.length && a.every((k, i) => k === b[i]);

/** `text` with `[host."<endpoint>".header] authorization` set to `value` (the secret goes only into the text). */
export function setHostAuthorization(text: string, endpoint: string, value: string): string {
  const lines = text.split('\n');
  const table = lines.findIndex((line) => samePath(tablePath(line), ['host', endpoint, 'header']));
  if (table === -1) {
    // No header table yet: a new one at the end (TOML allows a sub-table after others).
    return `${text.replace(/\n*$/, '\n')}\n[host.${tomlString(endpoint)}.header]\n    authorization = ${tomlString(value)}\n`;
  }
  let end = lines.findIndex((line, i) => i > table && /^\s*\[/.test(line));
  if (end === -1) end = lines.length;
  const keyLine = lines.findIndex((line, i) => i > table && i < end && /^\s*(?:authorization|"authorization"|'authorization')\s*=/i.test(line));
  if (keyLine === -1) {
    lines.splice(table + 1, 0, `    authorization = ${tomlString(value)}`);
  } else {
    const [, indent, key] = /^(\s*)(\S+?)\s*=/.exec(lines[keyLine]!)!;
    lines[keyLine] = `${indent}${key} = ${tomlString(value)}`;
  }
  return lines.join('\n');
}
