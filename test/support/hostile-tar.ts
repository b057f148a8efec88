/**
 * A raw tar encoder for hostile tars: every field of a 512-byte header can be
 * set or broken (magic, prefix, octal or base-256 numbers, checksum), plus
 * PAX and GNU long-name headers and end-of-archive blocks. Used by the unit
 * tests, the differential integration test and the fuzzer.
 */

export const BLOCK = 512;

export type Magic = 'ustar' | 'gnu' | 'v7';

export interface HeaderSpec {
  name?: string | Buffer;
  mode?: number;
  uid?: number;
  gid?: number;
  mtime?: number;
  /** A number (octal, or base-256 when `base256`), or the raw 12 bytes of the field. */
  size?: number | Buffer;
  base256?: boolean;
  /** The typeflag character; '0' by default. */
  type?: string;
  linkname?: string;
  magic?: Magic;
  /** The 155-byte ustar prefix field (bytes 345..500), also GNU atime/ctime. */
  prefix?: string | Buffer;
  /** 'ok' (unsigned sum), 'signed', 'bad', or a raw 8-byte field. */
  checksum?: 'ok' | 'signed' | 'bad' | Buffer;
  /** Last changes to the block before the checksum is computed. */
  patch?: (block: Buffer) => void;
}

function put(block: Buffer, at: number, length: number, value: string | Buffer): void {
  const bytes = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  bytes.copy(block, at, 0, Math.min(bytes.length, length));
}

/** An octal field as tar-stream and GNU tar write it: zero-padded digits and a NUL. */
export function octal(value: number, length: number): string {
  return value.toString(8).padStart(length - 1, '0') + '\0';
}

export function base256(value: number, length = 12): Buffer {
  const field = Buffer.alloc(length);
  let v = BigInt(value);
  for (let i = length - 1; i > 0; i--) {
    field[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  field[0] = 0x80;
  return field;
}

export function checksumOf(block: Buffer, signed = false): number {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : block[i]!;
    sum += signed && b >= 0x80 ? b - 0x100 : b;
  }
  return sum;
}

/** Writes the checksum field as GNU tar does ("0012345\0 "). */
export function setChecksum(block: Buffer, signed = false): void {
  block.write(checksumOf(block, signed).toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
}

export function header(spec: HeaderSpec = {}): Buffer {
  const block = Buffer.alloc(BLOCK);
  put(block, 0, 100, spec.name ?? 'file');
  put(block, 100, 8, octal(spec.mode ?? 0o644, 8));
  put(block, 108, 8, octal(spec.uid ?? 0, 8));
  put(block, 116, 8, octal(spec.gid ?? 0, 8));
  const size = spec.size ?? 0;
  put(block, 124, 12, Buffer.isBuffer(size) ? size : spec.base256 ? base256(size) : octal(size, 12));
  put(block, 136, 12, octal(spec.mtime ?? 0, 12));
  block.write(spec.type ?? '0', 156, 'latin1');
  put(block, 157, 100, spec.linkname ?? '');
  const magic = spec.magic ?? 'ustar';
  if (magic === 'ustar') put(block, 257, 8, Buffer.from('ustar\x0000', 'latin1'));
  if (magic === 'gnu') put(block, 257, 8, Buffer.from('ustar  \x00', 'latin1'));
  if (magic !== 'v7') {
    put(block, 265, 32, 'root');
    put(block, 297, 32, 'root');
    put(block, 329, 8, octal(0, 8));
    put(block, 337, 8, octal(0, 8));
  }
  if (spec.prefix !== undefined) put(block, 345, 155, spec.prefix);
  spec.patch?.(block);
  const checksum = spec.checksum ?? 'ok';
  if (Buffer.isBuffer(checksum)) put(block, 148, 8, checksum);
  else {
    setChecksum(block, checksum === 'signed');
    if (checksum === 'bad') block[148 + 5] = block[148 + 5] === 0x30 ? 0x31 : 0x30;
  }
  return block;
}

/** Data padded with zeros to whole blocks. */
export function padded(data: Buffer): Buffer {
  const rest = data.length % BLOCK;
  return rest === 0 ? data : Buffer.concat([data, Buffer.alloc(BLOCK - rest)]);
}

/** A regular file: header and padded content (the header's size is the content's unless given). */
export function file(name: string | Buffer, content: string | Buffer = '', spec: HeaderSpec = {}): Buffer {
  const data = Buffer.isBuffer(content) ? content : Buffer.from(content);
  return Buffer.concat([header({ name, size: data.length, ...spec }), padded(data)]);
}

export function dir(name: string, spec: HeaderSpec = {}): Buffer {
  return header({ name, type: '5', mode: 0o755, ...spec });
}

/** One PAX record with a correct length ("LEN key=value\n", LEN counting itself). */
export function paxRecord(key: string, value: string | Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), Buffer.isBuffer(value) ? value : Buffer.from(value), Buffer.from('\n')]);
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return Buffer.concat([Buffer.from(String(length)), body]);
}

/** An extended header ('x', or 'g' for global) with records, or raw record bytes. */
export function pax(records: Record<string, string> | Array<[string, string]> | Buffer, spec: HeaderSpec = {}): Buffer {
  const data = Buffer.isBuffer(records)
    ? records
    : Buffer.concat((Array.isArray(records) ? records : Object.entries(records)).map(([k, v]) => paxRecord(k, v)));
  return Buffer.concat([header({ name: 'PaxHeader/file', type: 'x', size: data.length, ...spec }), padded(data)]);
}

/** A GNU long name ('L') or long link name ('K') header with its NUL-terminated data. */
export function gnuLong(name: string | Buffer, type: 'L' | 'K' = 'L', spec: HeaderSpec = {}): Buffer {
  const data = Buffer.concat([Buffer.isBuffer(name) ? name : Buffer.from(name), Buffer.alloc(1)]);
  return Buffer.concat([header({ name: '././@LongLink', type, magic: 'gnu', size: data.length, ...spec }), padded(data)]);
}

/** The end of an archive: `count` zero blocks (tar-stream writes two). */
export function end(count = 2): Buffer {
  return Buffer.alloc(count * BLOCK);
}

export function tar(...parts: Buffer[]): Buffer {
  return Buffer.concat(parts);
}
