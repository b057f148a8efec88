/** `lading serve` as a user runs it (bin/lading), as a child on a free port, with its JSON start line read. */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { LADING_BIN } from './lading.js';
import { freePort } from './registry.js';

export interface Serving {
  child: ChildProcess;
  host: string;
  started: { url: string; images: Array<{ name: string; repositories: string[] }> };
  /** Lines printed after the start line. */
  lines: string[];
  stderr: () => string;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export async function serve(bundles: string[], extra: string[] = []): Promise<Serving> {
  const port = await freePort();
  const child = spawn(LADING_BIN, ['serve', ...bundles, '--listen', `127.0.0.1:${port}`, '--json', ...extra], {
    env: { ...process.env, CI: '1', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const lines: string[] = [];
  const reader = createInterface({ input: child.stdout! });
  const first = await new Promise<string | undefined>((resolve) => {
    reader.once('line', resolve);
    void exited.then(() => resolve(undefined));
  });
  if (first === undefined) throw new Error(`lading serve exited with ${await exited}: ${stderr}`);
  reader.on('line', (line) => lines.push(line));
  return {
    child,
    host: `127.0.0.1:${port}`,
    started: JSON.parse(first),
    lines,
    stderr: () => stderr,
    stop: async (signal = 'SIGTERM') => {
      if (child.exitCode === null) child.kill(signal);
      return exited;
    },
  };
}
