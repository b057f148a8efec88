/** Runs the real CLI (bin/lading → dist/lading.mjs) as a user would, capturing its output. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const LADING_BIN = fileURLToPath(new URL('../../bin/lading', import.meta.url));

export interface LadingRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface LadingRunOptions {
  env?: NodeJS.ProcessEnv;
  /** Another lading to run, e.g. the single executable (default: bin/lading). */
  bin?: string;
  cwd?: string;
  /** Called with the child once it started, e.g. to send SIGINT. */
  onSpawn?: (child: ReturnType<typeof spawn>) => void;
  timeoutMs?: number;
}

export function runLading(args: string[], options: LadingRunOptions = {}): Promise<LadingRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(options.bin ?? LADING_BIN, args, {
      cwd: options.cwd,
      env: { ...process.env, CI: '1', NO_COLOR: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    options.onSpawn?.(child);
  });
}

export function specText(images: Array<string | { name: string; platforms: string[] }>, platforms = ['linux/amd64', 'linux/arm64'], extra = ''): string {
  const lines = images.map((i) =>
    typeof i === 'string' ? `    - ${i}` : `    - name: ${i.name}\n      platforms: [${i.platforms.join(', ')}]`,
  );
  return `apiVersion: lading.dev/v1alpha1
kind: Bundle
metadata: {name: test, version: 1.0.0}
spec:
  platforms: [${platforms.join(', ')}]
  images:
${lines.join('\n')}
${extra}`;
}
