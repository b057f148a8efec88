/**
 * One 512-byte tar header, PAX records and entry names, parsed strictly. Where
 * Go's archive/tar (containerd, skopeo) and GNU tar could read a field
 * differently, the field is refused rather than guessed: a bundle must mean
 * the same thing to lading and to every tool that reads it after lading.
 * Problems are thrown as HeaderProblem; tar-walk.ts adds file, offset, entry.
 */
import { printable } from '../util/printable.js';

export const BLOCK = 512;
/** Linux's PATH_MAX and NAME_MAX: longer names cannot be extracted by GNU tar or skopeo. */
export const MAX_NAME_BYTES = 4095;
export const MAX_SEGMENT_BYTES = 255;
/** GNU tar refuses uids and gids beyond uid_t. */
const MAX_ID = 0xffffffff;

export class HeaderProblem extends Error {}

export type TarFormat = 'ustar' | 'gnu' | 'v7';

export interface RawHeader {
  /** The typeflag byte as a one-character string ('\0' for old regular files). */
  type: string;
  format: TarFormat;
  /** The name field (with the ustar prefix), undecoded. */
  name: Buffer;
  size: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Strict UTF-8 (a BOM is kept, not dropped: it is part of the name). */
export function decodeUtf8(bytes: Buffer, what: string): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw new HeaderProblem(`${what} is not valid UTF-8 (${showBytes(bytes)})`);
  }
}

/** Bytes for a message: UTF-8 text escaped, or each non-ASCII byte as \xNN; at most 200 characters. */
export function showBytes(bytes: Buffer): string {
  let text: string;
  try {
    text = printable(utf8.decode(bytes));
  } catch {
    text = [...bytes].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
  }
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/** The bytes before the first NUL (how every tar reader reads a string field). */
export function cString(bytes: Buffer, start = 0, length = bytes.length - start): Buffer {
  const field = bytes.subarray(start, start + length);
  const nul = field.indexOf(0);
  return nul === -1 ? field : field.subarray(0, nul);
}

/**
 * A numeric field. Octal: optional leading spaces, digits, then only NULs or
 * spaces (GNU tar skips one leading NUL and Go all of them, so a leading NUL
 * is refused). GNU base-256: first byte exactly 0x80 (positive; Go also takes
 * other high-bit bytes, GNU tar does not). `emptyIsZero`: an all-NUL field
 * reads as 0 in both readers.
 */
export function parseNumber(field: Buffer, what: string, options: { emptyIsZero?: boolean; octalOnly?: boolean; max?: number } = {}): number {
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  let value = 0;
  if (field[0] === 0x80 && !options.octalOnly) {
    for (let i = 1; i < field.length && value <= max; i++) value = value * 256 + field[i]!;
  } else if (!(options.emptyIsZero && field.every((b) => b === 0))) {
    const match = /^ *([0-7]+)[ \0]*$/.exec(field.toString('latin1'));
    if (!match) throw new HeaderProblem(`the ${what} field is not a number (${showBytes(field)})`);
    value = parseInt(match[1]!, 8);
  }
  if (value > max) throw new HeaderProblem(`the ${what} field is too large`);
  return value;
}

function isZero(bytes: Buffer): boolean {
  return bytes.every((b) => b === 0);
}

/** Go and GNU tar accept the sum of the bytes as unsigned or as signed chars. */
function checkChecksum(block: Buffer): void {
  let stored: number;
  try {
    stored = parseNumber(block.subarray(148, 156), 'checksum', { octalOnly: true });
  } catch {
    throw new HeaderProblem(`damaged tar header: the checksum field is not a number (${showBytes(block.subarray(148, 156))})`);
  }
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    unsigned += b;
    signed += b >= 0x80 ? b - 0x100 : b;
  }
  if (stored !== unsigned && stored !== signed) throw new HeaderProblem('damaged tar header: the checksum does not match');
}

function formatOf(block: Buffer): TarFormat {
  const magic = block.toString('latin1', 257, 263);
  const version = block.toString('latin1', 263, 265);
  if (magic === 'ustar\0') {
    if (version !== '00') throw new HeaderProblem(`ustar header with version ${showBytes(block.subarray(263, 265))}, not 00`);
    // star's trailer makes Go read a 131-byte prefix where GNU tar reads 155.
    if (block.toString('latin1', 508, 512) === 'tar\0') throw new HeaderProblem('star format header (readers disagree on its name prefix)');
    return 'ustar';
  }
  if (magic === 'ustar ' && version === ' \0') return 'gnu';
  if (isZero(block.subarray(257, 265))) return 'v7';
  throw new HeaderProblem(`unknown tar header format (magic ${showBytes(block.subarray(257, 265))})`);
}

/** Parses and checks one (non-zero) header block. */
export function parseHeader(block: Buffer): RawHeader {
  checkChecksum(block);
  const format = formatOf(block);
  // Go refuses the whole archive when any of these does not parse; GNU tar only warns.
  parseNumber(block.subarray(100, 108), 'mode', { emptyIsZero: true, max: 0o7777777 });
  parseNumber(block.subarray(108, 116), 'uid', { emptyIsZero: true, max: MAX_ID });
  parseNumber(block.subarray(116, 124), 'gid', { emptyIsZero: true, max: MAX_ID });
  parseNumber(block.subarray(136, 148), 'mtime', { emptyIsZero: true });
  const size = parseNumber(block.subarray(124, 136), 'size');
  if (format !== 'v7') {
    parseNumber(block.subarray(329, 337), 'devmajor', { emptyIsZero: true });
    parseNumber(block.subarray(337, 345), 'devminor', { emptyIsZero: true });
  }
  if (format === 'gnu') {
    // Go reads GNU atime/ctime when their first byte is not NUL and, if they do
    // not parse, takes those bytes as a ustar name prefix; GNU tar never does.
    if (block[345] !== 0) parseNumber(block.subarray(345, 357), 'GNU atime');
    if (block[357] !== 0) parseNumber(block.subarray(357, 369), 'GNU ctime');
  }
  let name = cString(block, 0, 100);
  // Only POSIX ustar has a prefix: in GNU headers those bytes are atime/ctime.
  const prefix = format === 'ustar' ? cString(block, 345, 155) : Buffer.alloc(0);
  if (prefix.length > 0) name = Buffer.concat([prefix, Buffer.from('/'), name]);
  return { type: String.fromCharCode(block[156]!), format, name, size };
}

/** The name field for a message about a header that did not parse. */
export function displayName(block: Buffer): string {
  return showBytes(cString(block, 0, 100));
}

export function typeLabel(type: string): string {
  const code = type.charCodeAt(0);
  return code >= 0x21 && code < 0x7f ? type : `\\x${code.toString(16).padStart(2, '0')}`;
}

/**
 * PAX records, "LEN key=value\n" where LEN counts the whole record. Anything
 * else (a wrong LEN, no newline, no '=', an empty key, a NUL, padding after
 * the last record, a key twice) is refused: readers recover differently.
 */
export function parsePax(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    const lengthText = space === -1 ? '' : data.toString('latin1', at, space);
    if (!/^[1-9][0-9]{0,7}$/.test(lengthText)) throw new HeaderProblem(`malformed PAX record at +${at} (no decimal length)`);
    const end = at + Number(lengthText);
    if (end > data.length || end - 1 <= space) throw new HeaderProblem(`PAX record at +${at} has a wrong length (${lengthText})`);
    if (data[end - 1] !== 0x0a) throw new HeaderProblem(`PAX record at +${at} does not end with a newline where its length says`);
    const body = data.subarray(space + 1, end - 1);
    const eq = body.indexOf(0x3d);
    if (eq <= 0) throw new HeaderProblem(`PAX record at +${at} has no "key=" (${showBytes(body)})`);
    const key = decodeUtf8(body.subarray(0, eq), `PAX key at +${at}`);
    const value = decodeUtf8(body.subarray(eq + 1), `PAX value of ${printable(key)}`);
    if (key.includes('\0') || value.includes('\0')) throw new HeaderProblem(`PAX record ${printable(key)} contains a NUL byte`);
    if (records.has(key)) throw new HeaderProblem(`PAX keyword ${printable(key)} appears twice in one header`);
    records.set(key, value);
    at = end;
  }
  return records;
}

const time = (v: string): boolean => /^(-?[0-9]{1,18}(\.[0-9]{1,18})?)?$/.test(v);
const id = (v: string): boolean => /^[0-9]{0,10}$/.test(v) && Number(v) <= MAX_ID;
const any = (): boolean => true;
/** Keywords that do not change which bytes an entry has or where it goes; their values must still parse in Go and GNU tar. */
const HARMLESS: Record<string, (value: string) => boolean> = { mtime: time, atime: time, ctime: time, uid: id, gid: id, uname: any, gname: any, comment: any, charset: any, hdrcharset: any };
/** Families written by star, bsdtar and GNU tar for xattrs, ACLs, SELinux; but star/libarchive read these two as sparse/type. */
const HARMLESS_FAMILIES = /^(SCHILY|LIBARCHIVE|RHT)\./;
const MEANINGFUL_IN_FAMILY = new Set(['SCHILY.realsize', 'SCHILY.filetype']);

export interface PaxEffect {
  path?: string;
  size?: number;
}

/**
 * What PAX records do to the next entry (`global`: to every later entry, which
 * GNU tar applies and Go does not, so a global header may change nothing).
 */
export function paxEffect(records: Map<string, string>, global: boolean): PaxEffect {
  const effect: PaxEffect = {};
  for (const [key, value] of records) {
    const shown = printable(key);
    if (global && (key === 'path' || key === 'size')) throw new HeaderProblem(`global PAX header sets ${shown} (GNU tar applies it to later entries, Go does not)`);
    if (key === 'path') {
      if (value === '') throw new HeaderProblem('PAX path is empty (readers disagree whether it resets the name)');
      effect.path = value;
    } else if (key === 'size') {
      if (!/^(0|[1-9][0-9]{0,15})$/.test(value) || !Number.isSafeInteger(Number(value))) throw new HeaderProblem(`PAX size "${printable(value)}" is not a plain decimal size`);
      effect.size = Number(value);
    } else if (key === 'linkpath') {
      throw new HeaderProblem('PAX linkpath (links are not allowed in a bundle)');
    } else if (key.startsWith('GNU.')) {
      throw new HeaderProblem(`PAX keyword ${shown} (GNU sparse, volume or incremental data is not allowed in a bundle)`);
    } else if (Object.hasOwn(HARMLESS, key)) {
      if (!HARMLESS[key]!(value)) throw new HeaderProblem(`PAX ${shown} "${printable(value)}" does not parse`);
    } else if (!HARMLESS_FAMILIES.test(key) || MEANINGFUL_IN_FAMILY.has(key)) {
      throw new HeaderProblem(`PAX keyword ${shown} is not one lading knows to leave the entry unchanged`);
    }
  }
  return effect;
}

/**
 * The name every extractor ends up with: leading "./" dropped, "//" and "/./"
 * collapsed, trailing "/" and "/." dropped (path.Clean without ".."). '' is
 * the archive's root ("./"). Refuses what would be read or written elsewhere.
 */
export function normaliseName(name: string): string {
  if (name === '') throw new HeaderProblem('the entry has an empty name');
  if (Buffer.byteLength(name) > MAX_NAME_BYTES) throw new HeaderProblem(`the name is longer than ${MAX_NAME_BYTES} bytes`);
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) throw new HeaderProblem('the name contains a control character');
  if (name.includes('\\')) throw new HeaderProblem('the name contains a backslash');
  if (name.startsWith('/')) throw new HeaderProblem('the name is absolute');
  const segments = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) throw new HeaderProblem('the name has a ".." segment');
  if (segments.some((s) => Buffer.byteLength(s) > MAX_SEGMENT_BYTES)) throw new HeaderProblem(`a part of the name is longer than ${MAX_SEGMENT_BYTES} bytes`);
  return segments.join('/');
}
