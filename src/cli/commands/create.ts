/** `lading create [SPEC] -o BUNDLE`: parse and check flags, build the job, pick a view, report. */
import { parseSplitSize, partsListPath } from '../../core/bundle/parts.js';
import { readDeltaBase } from '../../core/bundle/delta.js';
import { readFile, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { AbortError, ExitCode } from '../../core/errors.js';
import { ProgressHub } from '../../core/progress.js';
import { BlobCache, defaultCacheDir } from '../../core/oci/blob-cache.js';
import { findCredential } from '../../core/oci/credentials.js';
import { RegistryClient } from '../../core/oci/registry-client.js';
import { loadSpec } from '../../core/spec/load.js';
import { CreateJob, defaultBundleFileName } from '../../core/create/create-job.js';
import { buildCreateTasks } from '../../core/tasks/create-tasks.js';
import type { CreateSummary } from '../../core/bundle/summary.js';
import { LADING_VERSION } from '../../core/version.js';
import { readInventoryBase } from '../../core/inventory/inventory.js';
import { onInterrupt } from '../interrupt.js';
import { pickOutputMode, writeJson, type Streams } from '../output.js';
import { createSummaryLines } from '../plain.js';
import { runCreateView } from '../views.js';

export interface CreateFlags {
  output?: string;
  force?: boolean;
  split?: string;
  since?: string;
  against?: string;
  insecureRegistry: string[];
  caFile: string[];
  cacheDir?: string;
  concurrency: string;
  json?: boolean;
  tui?: boolean;
}

function parseConcurrency(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    throw new AbortError(`--concurrency must be a whole number from 1 to 64, got "${text}"`, { exitCode: ExitCode.usage });
  }
  return n;
}

async function readCaFiles(files: string[]): Promise<string[]> {
  return Promise.all(
    files.map(async (file) => {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        throw new AbortError(`--ca-file ${file}: cannot read it (${(error as NodeJS.ErrnoException).code})`, { exitCode: ExitCode.usage });
      }
      if (!text.includes('-----BEGIN CERTIFICATE-----')) {
        throw new AbortError(`--ca-file ${file}: not a PEM certificate`, { exitCode: ExitCode.usage, hint: 'Pass the CA certificate in PEM form.' });
      }
      return text;
    }),
  );
}

async function checkOutput(path: string, force: boolean): Promise<void> {
  try {
    const info = await stat(path);
    if (info.isDirectory()) throw new AbortError(`output ${path} is a directory`, { exitCode: ExitCode.usage, hint: 'Name a file, e.g. -o demo.lading.tar.' });
    if (!force) {
      throw new AbortError(`output ${path} already exists`, { exitCode: ExitCode.usage, hint: 'Pass --force to replace it, or choose another -o path.' });
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      try {
        const parent = await stat(resolve(path, '..'));
        if (parent.isDirectory()) return;
      } catch {
        // fall through
      }
      throw new AbortError(`output ${path}: its directory does not exist`, { exitCode: ExitCode.usage });
    }
    throw error;
  }
}

export async function runCreate(specPath: string, flags: CreateFlags, streams: Streams, env: NodeJS.ProcessEnv): Promise<number> {
  const concurrency = parseConcurrency(flags.concurrency);
  const spec = await loadSpec(specPath);
  const output = resolve(flags.output ?? defaultBundleFileName(spec.name, spec.version));
  const splitBytes = flags.split === undefined ? undefined : parseSplitSize(flags.split);
  // A split bundle's name on disk is its parts list (NAME.parts) next to NAME.tar.001, ...
  await checkOutput(splitBytes ? partsListPath(output) : output, Boolean(flags.force));
  // A delta's base is read (and checked) before anything is pulled: a wrong base costs nothing.
  const base = flags.since !== undefined ? await readDeltaBase(flags.since) : flags.against !== undefined ? await readInventoryBase(flags.against) : undefined;
  const caCertificates = await readCaFiles(flags.caFile);
  const mode = pickOutputMode(flags, streams, env);

  const interrupt = onInterrupt();
  const client = new RegistryClient({
    insecureRegistries: [...flags.insecureRegistry.flatMap((h) => h.split(',')).filter(Boolean), ...spec.insecureRegistries],
    caCertificates,
    credentialLookup: (registry, repository) => findCredential(registry, repository),
    signal: interrupt.signal,
    userAgent: `lading/${LADING_VERSION}`,
  });
  const progress = new ProgressHub();
  const job = new CreateJob({
    spec,
    output,
    ...(splitBytes ? { splitBytes } : {}),
    ...(base ? { base } : {}),
    client,
    cache: new BlobCache(flags.cacheDir ?? defaultCacheDir(env)),
    progress,
    concurrency,
    signal: interrupt.signal,
  });

  try {
    const summary: CreateSummary = await runCreateView(mode, streams, progress, (renderer, rendererOptions, outputIntervalMs) =>
      buildCreateTasks(job, { renderer, rendererOptions, concurrency, outputIntervalMs, progress }),
    );
    if (mode === 'json') writeJson(streams.stdout, { ok: true, summary });
    else if (mode === 'plain') streams.stdout.write(createSummaryLines(summary).join('\n') + '\n');
    return ExitCode.ok;
  } catch (error) {
    await job.abort();
    throw interrupt.signal.aborted ? interrupt.signal.reason : error;
  } finally {
    interrupt.dispose();
    await client.close();
  }
}
