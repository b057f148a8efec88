/**
 * `lading serve BUNDLE... [--listen ADDR:PORT] [--tls-cert F --tls-key F] [--log] [--json]`:
 * the bundles as a read-only registry until Ctrl-C or SIGTERM, which end it with exit 0.
 */
import { readFile } from 'node:fs/promises';
import { AbortError, ExitCode } from '../../core/errors.js';
import { openCatalog, type Catalog } from '../../core/serve/catalog.js';
import { parseListen, startServer, type AccessRecord, type RunningServer } from '../../core/serve/server.js';
import { printable } from '../../core/util/printable.js';
import { onInterrupt } from '../interrupt.js';
import { pickOutputMode, type Streams } from '../output.js';

export interface ServeFlags {
  listen: string;
  tlsCert?: string;
  tlsKey?: string;
  log?: boolean;
  json?: boolean;
  tui?: boolean;
}

async function readTls(flags: ServeFlags): Promise<{ cert: Buffer; key: Buffer } | undefined> {
  if (!flags.tlsCert && !flags.tlsKey) return undefined;
  if (!flags.tlsCert || !flags.tlsKey) {
    throw new AbortError('--tls-cert and --tls-key go together', { exitCode: ExitCode.usage, hint: 'Pass both (PEM files), or neither for plain HTTP.' });
  }
  const read = async (flag: string, file: string) => {
    try {
      return await readFile(file);
    } catch (error) {
      throw new AbortError(`${flag} ${file}: cannot read it (${(error as NodeJS.ErrnoException).code})`, { exitCode: ExitCode.usage });
    }
  };
  return { cert: await read('--tls-cert', flags.tlsCert), key: await read('--tls-key', flags.tlsKey) };
}

/** One compact JSON object per line: the start, then (with --log) requests and problems. */
function jsonLine(streams: Streams, value: unknown): void {
  streams.stdout.write(JSON.stringify(value) + '\n');
}

function hostOf(url: string): string {
  return url.replace(/^https?:\/\//, '');
}

export function serveStartLines(catalog: Catalog, url: string): string[] {
  const bundles = catalog.bundles.map((b) => printable(b)).join(', ');
  const n = catalog.images.length;
  const lines = [`serving ${n} image${n === 1 ? '' : 's'} from ${bundles} on ${url}`];
  const host = hostOf(url);
  for (const image of catalog.images) {
    const at = image.tag === undefined ? `@${image.digest}` : `:${image.tag}`;
    const [first, ...also] = image.repositories.map((r) => `${host}/${printable(r)}${at}`);
    const alias = also.length ? `  (also ${also.join(', ')})` : '';
    lines.push(`  ${first}  ${image.digest}  ${image.platforms.join(', ')}${alias}`);
  }
  for (const warning of catalog.warnings) lines.push(`  ! ${warning}`);
  lines.push('Ctrl-C stops it.');
  return lines;
}

function accessLine(r: AccessRecord): string {
  return `${r.remote} ${r.method} ${printable(r.path)} ${r.status === 0 ? 'cut' : r.status} ${r.bytes}B ${r.ms}ms`;
}

export async function runServe(bundles: string[], flags: ServeFlags, streams: Streams, env: NodeJS.ProcessEnv): Promise<number> {
  const listen = parseListen(flags.listen);
  const tls = await readTls(flags);
  const json = pickOutputMode(flags, streams, env) === 'json';
  const interrupt = onInterrupt();
  let catalog: Catalog | undefined;
  let server: RunningServer | undefined;
  try {
    catalog = await openCatalog(bundles);
    server = await startServer(catalog, {
      listen,
      ...(tls ? { tls } : {}),
      ...(flags.log ? { onRequest: (r: AccessRecord) => (json ? jsonLine(streams, { event: 'request', ...r, path: printable(r.path) }) : streams.stdout.write(accessLine(r) + '\n')) } : {}),
      onBad: (blob, error) => {
        const message = `${printable(error.message)}: not served; the bundle is damaged (run lading verify on it)`;
        if (json) jsonLine(streams, { event: 'damaged', digest: blob.digest, bundle: blob.reader.path, message });
        else streams.stderr.write(`✖ ${message}\n`);
      },
      onError: (error) => streams.stderr.write(`✖ request failed: ${printable((error as Error)?.message ?? String(error))}\n`),
    });
    if (json) {
      jsonLine(streams, {
        event: 'listening',
        url: server.url,
        address: server.address,
        bundles: catalog.bundles,
        images: catalog.images.map((i) => ({ name: i.name, digest: i.digest, platforms: i.platforms, repositories: i.repositories, tag: i.tag, bundle: i.bundle })),
        warnings: catalog.warnings,
      });
    } else {
      streams.stdout.write(serveStartLines(catalog, server.url).join('\n') + '\n');
    }
    await new Promise<void>((resolve) => {
      if (interrupt.signal.aborted) return resolve();
      interrupt.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    if (!json) streams.stdout.write('stopped\n');
    return ExitCode.ok;
  } finally {
    interrupt.dispose();
    await server?.close();
    await catalog?.close();
  }
}
