/** `lading verify BUNDLE`: stream every blob, check every reference; exit 0 only if all holds. */
import { verifyBundle } from '../../core/bundle/verify.js';
import { ExitCode } from '../../core/errors.js';
import { formatBytes, ProgressMeter } from '../../core/progress.js';
import { onInterrupt } from '../interrupt.js';
import { pickOutputMode, writeJson, type Streams } from '../output.js';
import { verifyLines } from '../plain.js';

export async function runVerify(bundle: string, flags: { json?: boolean; tui?: boolean }, streams: Streams, env: NodeJS.ProcessEnv): Promise<number> {
  const mode = pickOutputMode(flags, streams, env);
  const interrupt = onInterrupt();
  let meter: ProgressMeter | undefined;
  let lastPaint = 0;
  // A single self-overwriting line on a terminal; nothing in plain/JSON mode until the report.
  const paint = (force = false) => {
    if (mode !== 'tui' || !meter) return;
    const now = performance.now();
    if (!force && now - lastPaint < 100) return;
    lastPaint = now;
    const p = meter.snapshot();
    streams.stderr.write(`\r\x1b[2KVerifying ${formatBytes(p.done)} / ${formatBytes(p.total)}  ${formatBytes(p.bytesPerSecond)}/s`);
  };
  try {
    const report = await verifyBundle(bundle, {
      signal: interrupt.signal,
      // Always hashed in full here; a note of it spares the next install of this unchanged file that pass.
      notes: { note: true, trust: false },
      onStart: (total) => {
        meter = new ProgressMeter(total);
      },
      onBytes: (n) => {
        meter?.advance(n);
        paint();
      },
    });
    if (mode === 'tui') streams.stderr.write('\r\x1b[2K');
    if (mode === 'json') writeJson(streams.stdout, report);
    else streams.stdout.write(verifyLines(report).join('\n') + '\n');
    return report.ok ? ExitCode.ok : ExitCode.integrity;
  } catch (error) {
    if (mode === 'tui') streams.stderr.write('\r\x1b[2K');
    throw interrupt.signal.aborted ? interrupt.signal.reason : error;
  } finally {
    interrupt.dispose();
  }
}
