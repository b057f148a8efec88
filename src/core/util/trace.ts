/**
 * A debug trace for hard-to-reproduce stalls (LADING_DEBUG=1): one line per
 * step, with the time since the process started. Off by default; the CLI
 * installs the sink. Never pass secrets: request paths and step names only.
 */
let sink: ((line: string) => void) | undefined;

export function setTraceSink(next: ((line: string) => void) | undefined): void {
  sink = next;
}

export function trace(message: string): void {
  if (sink) sink(`[lading ${(performance.now() / 1000).toFixed(3)}s] ${message}\n`);
}

/** Traces an awaited step's start and end (or failure), and passes its result on. */
export async function traced<T>(what: string, step: () => Promise<T>): Promise<T> {
  if (!sink) return step();
  trace(`${what} …`);
  try {
    const result = await step();
    trace(`${what} done`);
    return result;
  } catch (error) {
    trace(`${what} failed: ${(error as Error)?.name ?? 'error'}: ${String((error as Error)?.message ?? error).slice(0, 200)}`);
    throw error;
  }
}
