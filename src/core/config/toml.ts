/** Parsing a node's TOML file, and quoting values lading puts into one. */
import { parse } from 'smol-toml';
import { AbortError, BugError, ExitCode } from '../errors.js';

export type TomlTable = Record<string, unknown>;

export function parseNodeToml(text: string, file: string): TomlTable {
  try {
    return parse(text) as TomlTable;
  } catch (error) {
    throw new AbortError(`${file} is not valid TOML: ${(error as Error).message.split('\n')[0]}`, {
      exitCode: ExitCode.node,
      hint: 'Fix the file on the node first; lading does not rewrite a file it cannot read.',
    });
  }
}

const SHORT_ESCAPES: Record<string, string> = { '\b': '\\b', '\t': '\\t', '\n': '\\n', '\f': '\\f', '\r': '\\r', '"': '\\"', '\\': '\\\\' };

/**
 * A TOML basic string holding exactly `value`, on one line. Not JSON.stringify:
 * JSON leaves DEL (U+007F) raw and writes lone surrogates as \uD800, both of
 * which TOML refuses. Only escapes TOML 1.0 knows are used (\b \t \n \f \r \" \\ \uXXXX).
 */
export function tomlString(value: string): string {
  let out = '"';
  for (const char of value) {
    const code = char.codePointAt(0)!;
    const short = SHORT_ESCAPES[char];
    if (short) out += short;
    else if (code < 0x20 || code === 0x7f) out += `\\u${code.toString(16).toUpperCase().padStart(4, '0')}`;
    // A lone surrogate is not a Unicode scalar value; values reach here only after validation.
    else if (code >= 0xd800 && code <= 0xdfff) throw new BugError('tomlString: a lone surrogate cannot be written in TOML');
    else out += char;
  }
  return `${out}"`;
}

/** Two parsed TOML documents hold the same data (key order aside). */
export function sameToml(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(plainData(a))) === JSON.stringify(sortKeys(plainData(b)));
}

/** Parsed TOML as plain JSON data (dates as their text), safe to copy and change. */
export function plainData<T = TomlTable>(value: unknown): T {
  return JSON.parse(JSON.stringify(value ?? null)) as T;
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).sort().map((k) => [k, sortKeys((value as TomlTable)[k])]));
  }
  return value;
}
