/**
 * Differential fuzzing: every mutated tar that lading accepts must be read the
 * same by GNU tar (extracted) and by Go's archive/tar (go-tar-list/main.go, the
 * reader of containerd and skopeo): same regular files, same bytes, no error.
 * Needs `tar` and `go`; `npm run fuzz` runs it (too slow for `npm test`).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { requireTool } from '../support/tools.js';
import { walkTarHeaders } from '../../src/core/bundle/tar-walk.js';
import { corpus } from '../support/hostile-tar-corpus.js';
import { build, checkWalk, keep, memorySource, planOf } from './tar-mutants.js';
import type { FuzzOptions, FuzzReport } from './tar-walk.fuzz.js';

type Files = Record<string, string>;

/** What an extractor's consumer sees: path.Clean of the name (no ".." can occur in an accepted tar). */
const clean = (name: string): string => name.split('/').filter((s) => s !== '' && s !== '.').join('/');

function gnuTarFiles(tarPath: string, work: string): Files | string {
  const dir = join(work, 'x');
  rmSync(dir, { recursive: true, force: true });
  spawnSync('mkdir', [dir]);
  const run = spawnSync('tar', ['-xf', tarPath, '-C', dir, '--no-same-owner', '--no-same-permissions'], { encoding: 'utf8' });
  if (run.status !== 0) return `GNU tar failed (${run.status}): ${run.stderr}`;
  const files: Files = {};
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) files[clean(join(entry.parentPath, entry.name).slice(dir.length + 1))] = readFileSync(join(entry.parentPath, entry.name)).toString('hex');
    else if (!entry.isDirectory()) return `GNU tar made ${entry.name}, neither a file nor a directory`;
  }
  return files;
}

function goFiles(oracle: string, tarPath: string): Files | string {
  const run = spawnSync(oracle, [tarPath], { encoding: 'utf8' });
  const files: Files = {};
  for (const line of run.stdout.trim().split('\n')) {
    const item = JSON.parse(line) as { name?: string; type?: string; content?: string; error?: string; end?: boolean };
    if (item.error) return `Go failed: ${item.error}`;
    if (item.end) return files;
    if (item.type === '0') files[clean(item.name ?? '')] = item.content ?? '';
    else if (item.type !== '5' && item.type !== 'g') return `Go read a ${JSON.stringify(item.type)} entry ${item.name}`;
  }
  return 'Go oracle printed no end';
}

export function buildGoOracle(work: string): string {
  requireTool('go', 'install Go (apt-get install golang-go) to run the Go archive/tar oracle');
  const out = join(work, 'go-tar-list');
  const source = fileURLToPath(new URL('./go-tar-list/', import.meta.url));
  const build = spawnSync('go', ['build', '-o', out, '.'], { cwd: source, encoding: 'utf8' });
  if (build.status !== 0) throw new Error(`go build failed: ${build.stderr}`);
  return out;
}

export async function fuzz({ seconds, seed }: FuzzOptions): Promise<FuzzReport> {
  requireTool('tar');
  const work = mkdtempSync(join(tmpdir(), 'lading-tar-diff-'));
  const report = { runs: 0, accepted: 0 };
  try {
    const oracle = buildGoOracle(work);
    const tarPath = join(work, 'case.tar');
    // The corpus itself first: each accepted case must read the same everywhere.
    for (const c of corpus().filter((c) => c.files)) await compare(c.bytes, oracle, work, tarPath);
    await fc.assert(
      // Few mutations: more tars that lading accepts, which are the ones worth comparing.
      fc.asyncProperty(planOf(2), async (p) => {
        report.runs++;
        const tar = build(p);
        const result = await checkWalk(tar).catch((error: unknown) => {
          throw keep(tar, error);
        });
        if (result instanceof Error) return;
        report.accepted++;
        await compare(tar, oracle, work, tarPath);
      }),
      { seed, numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false },
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return report;
}

/** lading, GNU tar and Go must see the same regular files with the same bytes. */
async function compare(tar: Buffer, oracle: string, work: string, tarPath: string): Promise<void> {
  const entries = await walkTarHeaders(tarPath, memorySource(tar), tar.length);
  const lading: Files = {};
  for (const e of entries.values()) lading[e.name] = tar.subarray(e.offset, e.offset + e.size).toString('hex');
  writeFileSync(tarPath, tar);
  for (const [reader, seen] of [['GNU tar', gnuTarFiles(tarPath, work)], ['Go', goFiles(oracle, tarPath)]] as const) {
    if (JSON.stringify(sorted(seen)) !== JSON.stringify(sorted(lading))) {
      throw keep(tar, `${reader} reads it differently:\n  ${reader}: ${JSON.stringify(seen)}\n  lading: ${JSON.stringify(lading)}`);
    }
  }
}

function sorted(files: Files | string): Files | string {
  return typeof files === 'string' ? files : Object.fromEntries(Object.entries(files).sort(([a], [b]) => (a < b ? -1 : 1)));
}
