/**
 * Fuzzes walkTarHeaders with mutated corpus tars (see tar-mutants.ts): it
 * returns entries inside the file with safe normalised names, or refuses with
 * an AbortError of exit code 7; never another error, never slowly.
 * `npm test` runs it for a few seconds (tar-walk.test.ts), `npm run fuzz` long.
 */
import fc from 'fast-check';
import { build, checkWalk, keep, plan } from './tar-mutants.js';

export interface FuzzOptions {
  seconds: number;
  seed: number;
}

export interface FuzzReport {
  runs: number;
  accepted: number;
}

export async function fuzz({ seconds, seed }: FuzzOptions): Promise<FuzzReport> {
  const report = { runs: 0, accepted: 0 };
  await fc.assert(
    fc.asyncProperty(plan, async (p) => {
      report.runs++;
      const tar = build(p);
      const result = await checkWalk(tar).catch((error: unknown) => {
        throw keep(tar, error);
      });
      if (!(result instanceof Error)) report.accepted++;
    }),
    { seed, numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: seconds * 1000, markInterruptAsFailure: false },
  );
  return report;
}
