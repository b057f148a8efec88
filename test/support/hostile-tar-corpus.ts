/**
 * The corpus of tars lading must read exactly like GNU tar and Go's
 * archive/tar, or refuse: each case is either accepted (`files`: the regular
 * files every reader must see, normalised name -> content) or refused
 * (`culprit`: what the one-line error must name). Shared by the unit tests,
 * the differential integration test and the fuzzer (as seeds).
 */
import * as tarStream from 'tar-stream';
import { BLOCK, base256, dir, end, file, gnuLong, header, pax, paxRecord, tar } from './hostile-tar.js';

export interface TarCase {
  name: string;
  bytes: Buffer;
  /** Accepted: normalised name -> content. */
  files?: Record<string, string>;
  /** Refused: a pattern the error message must match (offset and/or entry). */
  culprit?: RegExp;
}

const long = `blobs/sha256/${'d'.repeat(64)}/${'e'.repeat(60)}`; // > 100 bytes: needs PAX, prefix or L
const accept = (name: string, bytes: Buffer, files: Record<string, string>): TarCase => ({ name, bytes, files });
const refuse = (name: string, bytes: Buffer, culprit: RegExp): TarCase => ({ name, bytes, culprit });

/** What lading's writer library (tar-stream) writes, in memory. */
export async function tarStreamBytes(files: Record<string, string>): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const [name, content] of Object.entries(files)) pack.entry({ name, mode: 0o644, mtime: new Date(0) }, content);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

const reg = (name: string, content: string) => file(name, content);
const sizeOnly = (name: string, content: string, size: Buffer) => file(name, content, { size });

export function corpus(): TarCase[] {
  return [
    // Accepted: what lading, GNU tar (tar --format=gnu|posix|v7 of a directory) and other writers produce.
    accept('plain ustar, two end blocks', tar(reg('oci-layout', '{"imageLayoutVersion":"1.0.0"}'), reg('index.json', '{}'), end()), { 'oci-layout': '{"imageLayoutVersion":"1.0.0"}', 'index.json': '{}' }),
    accept('one end block only', tar(reg('a', 'x'), end(1)), { a: 'x' }),
    accept('padded to a 10 KiB record', tar(reg('a', 'x'), end(18)), { a: 'x' }),
    accept('GNU tar of "." with ./ names', tar(dir('./', { magic: 'gnu' }), dir('./blobs/', { magic: 'gnu' }), file('./blobs/b', 'bb', { magic: 'gnu' }), file('./index.json', 'ii', { magic: 'gnu' }), end()), { 'blobs/b': 'bb', 'index.json': 'ii' }),
    accept('names with // and /./', tar(file('.//a//b', '1'), dir('c/./d/.'), file('c/./d/e', '3'), end()), { 'a/b': '1', 'c/d/e': '3' }),
    accept('PAX path for a long name', tar(pax({ path: long }), file('short-name', 'L'), end()), { [long]: 'L' }),
    accept('PAX size overrides the header size', tar(pax({ size: '600' }), header({ name: 'big', size: 0 }), Buffer.alloc(1024, 0x61), end()), { big: 'a'.repeat(600) }),
    accept('ustar prefix', tar(file(long.slice(78), 'P', { prefix: long.slice(0, 77) }), end()), { [long]: 'P' }),
    accept('GNU long name (L)', tar(gnuLong(long), file(long.slice(0, 99), 'G', { magic: 'gnu' }), end()), { [long]: 'G' }),
    accept('v7 header', tar(file('v7file', 'seven', { magic: 'v7' }), end()), { v7file: 'seven' }),
    accept('v7 header: old typeflag NUL', tar(file('nul-type', 'z', { magic: 'v7', type: '\0' }), end()), { 'nul-type': 'z' }),
    accept('signed checksum', tar(file('été', 'é', { checksum: 'signed' }), end()), { été: 'é' }),
    accept('base-256 size', tar(file('b256', 'xyz', { base256: true }), end()), { b256: 'xyz' }),
    accept('octal size with leading spaces', tar(sizeOnly('spaced', 'abcd', Buffer.from('         4 \0', 'latin1')), end()), { spaced: 'abcd' }),
    accept('harmless PAX keys', tar(pax([['mtime', '1700000000.5'], ['uid', '1000'], ['SCHILY.xattr.user.k', 'v'], ['comment', 'hi']]), reg('h', 'h'), end()), { h: 'h' }),
    accept('global PAX header with a comment', tar(pax({ comment: 'made by hand' }, { type: 'g' }), reg('g', 'g'), end()), { g: 'g' }),
    accept('GNU header with numeric atime/ctime', tar(file('times', 't', { magic: 'gnu', prefix: Buffer.from(`${'0'.repeat(11)}\0${'0'.repeat(11)}\0`) }), end()), { times: 't' }),

    // Refused: header format.
    refuse('bad checksum', tar(file('a', 'x', { checksum: 'bad' }), end()), /"a" at byte 0: damaged tar header: the checksum does not match/),
    refuse('checksum not octal', tar(file('a', 'x', { checksum: Buffer.from('0001234x', 'latin1') }), end()), /byte 0.*checksum/),
    refuse('ustar magic, version not 00', tar(file('a', 'x', { patch: (b) => b.write('\0\0', 263, 'latin1') }), end()), /byte 0.*version/),
    refuse('unknown magic', tar(file('a', 'x', { patch: (b) => b.write('tarx\0\0', 257, 'latin1') }), end()), /byte 0.*unknown tar header format/),
    refuse('star trailer', tar(file('a', 'x', { patch: (b) => b.write('tar\0', 508, 'latin1') }), end()), /byte 0.*star/),
    refuse('GNU header with a name in atime/ctime (Go reads it as a prefix)', tar(file('evil', 'x', { magic: 'gnu', prefix: 'blobs/sha256' }), end()), /"evil" at byte 0: the GNU atime field is not a number/),
    refuse('mode field not a number', tar(file('a', 'x', { patch: (b) => b.write('rw-r--r-', 100, 'latin1') }), end()), /byte 0.*mode/),
    refuse('devmajor field not a number', tar(file('a', 'x', { patch: (b) => b.write('zz', 329, 'latin1') }), end()), /byte 0.*devmajor/),
    // Refused: sizes.
    refuse('size with a space inside', tar(sizeOnly('a', 'x', Buffer.from('0000 000001\0', 'latin1')), end()), /"a" at byte 0: the size field is not a number/),
    refuse('size with a leading NUL', tar(sizeOnly('a', 'x', Buffer.from('\x0000000000001', 'latin1')), end()), /byte 0.*size/),
    refuse('negative base-256 size', tar(sizeOnly('a', 'x', Buffer.from([0xff, ...Array(11).fill(0xff)])), end()), /byte 0.*size/),
    refuse('base-256 size with 0x81', tar(sizeOnly('a', 'x', Buffer.from([0x81, ...Array(10).fill(0), 1])), end()), /byte 0.*size/),
    refuse('base-256 size beyond 2^53', tar(sizeOnly('a', 'x', base256(2 ** 60)), end()), /byte 0.*size/),
    refuse('PAX size not decimal', tar(pax({ size: '+1' }), reg('a', 'x'), end()), /byte 0.*PAX size "\+1"/),
    refuse('PAX size past the end of the file', tar(pax({ size: '99999' }), reg('a', 'x'), end()), /truncated: entry "a".*byte 1024/),
    refuse('directory with a size', tar(header({ name: 'd/', type: '5', size: 1 }), Buffer.alloc(BLOCK), end()), /"d\/" at byte 0: directory with a size/),
    // Refused: PAX records.
    refuse('PAX record with a wrong length', tar(pax(Buffer.from('30 path=x\n')), reg('a', 'x'), end()), /byte 0.*wrong length/),
    refuse('PAX record without newline', tar(pax(Buffer.from('11 path=abc')), reg('a', 'x'), end()), /byte 0.*newline/),
    refuse('PAX record without =', tar(pax(Buffer.from('9 pathxy\n')), reg('a', 'x'), end()), /byte 0.*no "key="/),
    refuse('PAX key twice', tar(pax([['path', 'a'], ['path', 'b']]), reg('c', 'x'), end()), /byte 0.*path appears twice/),
    refuse('PAX data padded with NULs', tar(pax(Buffer.concat([paxRecord('path', 'a'), Buffer.alloc(3)])), reg('c', 'x'), end()), /byte 0.*malformed PAX record/),
    refuse('PAX path with a NUL', tar(pax({ path: 'index.json\0.evil' }), reg('c', 'x'), end()), /byte 0.*NUL/),
    refuse('PAX path empty', tar(pax({ path: '' }), reg('c', 'x'), end()), /byte 0.*PAX path is empty/),
    refuse('PAX GNU sparse', tar(pax({ 'GNU.sparse.major': '1', 'GNU.sparse.minor': '0' }), reg('c', 'x'), end()), /byte 0.*GNU\.sparse\.major/),
    refuse('PAX linkpath', tar(pax({ linkpath: 'index.json' }), reg('c', 'x'), end()), /byte 0.*linkpath/),
    refuse('PAX unknown keyword', tar(pax({ 'VENDOR.path': 'x' }), reg('c', 'x'), end()), /byte 0.*VENDOR\.path/),
    refuse('PAX mtime that does not parse', tar(pax({ mtime: 'yesterday' }), reg('c', 'x'), end()), /byte 0.*mtime/),
    refuse('global PAX path', tar(pax({ path: 'index.json' }, { type: 'g' }), reg('a', 'x'), end()), /byte 0.*global PAX header sets path/),
    refuse('global PAX size', tar(pax({ size: '0' }, { type: 'g' }), reg('a', 'x'), end()), /byte 0.*global PAX header sets size/),
    // Refused: extended headers that readers chain differently.
    refuse('two PAX headers', tar(pax({ path: 'a' }), pax({ path: 'b' }), reg('c', 'x'), end()), /byte 1024.*second extended header \(x\) after the one at byte 0/),
    refuse('two GNU long names', tar(gnuLong('a'), gnuLong('b'), file('c', 'x', { magic: 'gnu' }), end()), /byte 1024.*second extended header \(L\)/),
    refuse('GNU long name and PAX path', tar(gnuLong('a'), pax({ path: 'b' }), file('c', 'x'), end()), /byte 1024.*second extended header \(x\)/),
    refuse('global header between PAX and entry', tar(pax({ path: 'a' }), pax({ comment: 'c' }, { type: 'g' }), reg('c', 'x'), end()), /byte 1024.*second extended header \(g\)/),
    refuse('PAX header at the end', tar(reg('a', 'x'), pax({ path: 'b' }), end()), /header at byte 1024: extended header \(x\) is not followed by an entry/),
    refuse('GNU long name at the end', tar(reg('a', 'x'), gnuLong('b'), end()), /header at byte 1024: extended header \(L\) is not followed/),
    refuse('GNU long link (K)', tar(gnuLong('target', 'K'), file('c', 'x', { magic: 'gnu' }), end()), /byte 0.*type "K" \(GNU long link name\)/),
    refuse('GNU long name with bytes after its NUL', tar(Buffer.concat([header({ name: '././@LongLink', type: 'L', magic: 'gnu', size: 8 }), Buffer.from('a\0bcdefg'), Buffer.alloc(504)]), file('c', 'x', { magic: 'gnu' }), end()), /byte 0.*after its NUL/),
    // Refused: entry types.
    refuse('symlink', tar(header({ name: 'index.json', type: '2', linkname: '/etc/passwd' }), end()), /"index\.json" at byte 0: type "2" \(symbolic link\)/),
    refuse('hard link', tar(reg('a', 'x'), header({ name: 'b', type: '1', linkname: 'a' }), end()), /"b" at byte 1024: type "1" \(hard link\)/),
    refuse('contiguous file (7)', tar(file('index.json', '{}', { type: '7' }), end()), /"index\.json" at byte 0: type "7"/),
    refuse('GNU sparse (S)', tar(file('s', 'x', { type: 'S', magic: 'gnu' }), end()), /"s" at byte 0: type "S"/),
    refuse('unknown type', tar(file('u', 'x', { type: 'Z' }), end()), /"u" at byte 0: type "Z" \(unknown type\)/),
    refuse('regular file named like a directory', tar(file('blobs/', 'x'), end()), /"blobs\/" at byte 0: regular file whose name ends in/),
    refuse('old-style directory (NUL type, trailing slash)', tar(file('d/', '', { type: '\0' }), end()), /"d\/" at byte 0: regular file whose name ends in/),
    // Refused: names.
    refuse('name not UTF-8', tar(file(Buffer.from([0x61, 0xff, 0x62]), 'x'), end()), /"a\\xffb" at byte 0: the name is not valid UTF-8/),
    refuse('newline and escape in a name', tar(file('a\nb\u001b[31m', 'x'), end()), /"a\\nb\\e\[31m" at byte 0: the name contains a control character/),
    refuse('C1 control in a name', tar(file('a\u0085b', 'x'), end()), /at byte 0: the name contains a control character/),
    refuse('backslash in a name', tar(file('blobs\\sha256', 'x'), end()), /at byte 0: the name contains a backslash/),
    refuse('absolute name', tar(file('/etc/passwd', 'x'), end()), /"\/etc\/passwd" at byte 0: the name is absolute/),
    refuse('.. in a name', tar(file('blobs/../../x', 'x'), end()), /at byte 0: the name has a "\.\." segment/),
    refuse('empty name', tar(file('', 'x'), end()), /at byte 0: the entry has an empty name/),
    refuse('name part longer than 255 bytes', tar(pax({ path: `a/${'b'.repeat(256)}` }), reg('c', 'x'), end()), /at byte 1024: a part of the name is longer/),
    refuse('same name with ./', tar(reg('index.json', '{}'), reg('./index.json', '[]'), end()), /"\.\/index\.json" at byte 1024: index\.json appears twice \(also at byte 0\)/),
    refuse('same name with .//', tar(reg('index.json', '{}'), reg('.//index.json', '[]'), end()), /at byte 1024: index\.json appears twice/),
    refuse('same name with /./', tar(reg('a/b', '1'), reg('a/./b', '2'), end()), /"a\/\.\/b" at byte 1024: a\/b appears twice/),
    refuse('file and directory with one name', tar(reg('blobs', 'x'), dir('blobs/'), end()), /"blobs\/" at byte 1024: blobs appears twice/),
    refuse('file that is also a parent directory', tar(reg('blobs', 'x'), reg('blobs/sha256/a', 'y'), end()), /"blobs" at byte 0: is a regular file but also the directory of blobs\/sha256\/a/),
    // Refused: the end of the archive.
    refuse('content after one zero block', tar(reg('a', 'x'), end(1), reg('index.json', '{}'), end()), /content after the end-of-archive marker \(the zero block at byte 1024\) at byte 1536/),
    refuse('content after two zero blocks', tar(reg('a', 'x'), end(), reg('b', 'y'), end()), /zero block at byte 1024\) at byte 2048/),
    refuse('one stray byte in the padding', tar(reg('a', 'x'), end(), Buffer.from([0, 0, 7]), Buffer.alloc(509)), /at byte 2050/),
    refuse('length not a whole number of blocks', tar(reg('a', 'x'), end(), Buffer.alloc(100)), /is 2148 bytes, not a whole number/),
    refuse('no end marker', tar(reg('a', 'x')), /truncated: the tar has no end marker/),
    refuse('entry past the end of the file', tar(header({ name: 'a', size: 5000 }), end()), /truncated: entry "a" of 5000 bytes runs past/),
  ];
}
