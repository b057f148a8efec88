/** `lading inspect BUNDLE [--json]`: what a bundle holds, from its headers and lading.json only. */
import { inspectBundle } from '../../core/bundle/inspect.js';
import { ExitCode } from '../../core/errors.js';
import { writeJson, type Streams } from '../output.js';
import { inspectLines } from '../plain.js';

export async function runInspect(bundle: string, flags: { json?: boolean }, streams: Streams): Promise<number> {
  const report = await inspectBundle(bundle);
  if (flags.json) writeJson(streams.stdout, report);
  else streams.stdout.write(inspectLines(report).join('\n') + '\n');
  return ExitCode.ok;
}
