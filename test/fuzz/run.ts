/**
 * `npm run fuzz`: runs every test/fuzz/*.fuzz.ts for LADING_FUZZ_SECONDS each
 * (default 60) with LADING_FUZZ_SEED (default: a new one, printed so a failure
 * can be replayed). A failure prints the counterexample and where its tar was kept.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join } from 'node:path';
import type { FuzzOptions, FuzzReport } from './tar-walk.fuzz.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const seconds = Number(process.env.LADING_FUZZ_SECONDS ?? 60);
const seed = Number(process.env.LADING_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const only = process.argv[2];

let failed = false;
for (const file of readdirSync(here).filter((f) => f.endsWith('.fuzz.ts') && (!only || f.includes(only))).sort()) {
  const { fuzz } = (await import(pathToFileURL(join(here, file)).href)) as { fuzz: (o: FuzzOptions) => Promise<FuzzReport> };
  process.stdout.write(`== ${file}: ${seconds}s, LADING_FUZZ_SEED=${seed}\n`);
  const started = performance.now();
  try {
    const report = await fuzz({ seconds, seed });
    const took = (performance.now() - started) / 1000;
    process.stdout.write(`   ok: ${report.runs} inputs (${report.accepted} accepted) in ${took.toFixed(1)}s\n`);
  } catch (error) {
    failed = true;
    process.stdout.write(`   FAILED: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  }
}
process.exitCode = failed ? 1 : 0;
