/** A HostShell on this machine (/bin/sh), to run lading's host-side steps against real local tools in tests. */
import { spawn } from 'node:child_process';
import { pipeline } from 'node:stream/promises';
import type { HostShell } from '../../src/core/host.js';
import type { ExecResult } from '../../src/core/cluster/exec.js';

export function localShell(): HostShell {
  return { node: 'localhost', hostExec: (script, options = {}) => runShell('/bin/sh', ['-c', script], options.stdin) };
}

/** Runs a command that stands for a host's shell, stdin streamed in, stdout and stderr collected: what a HostShell answers. */
export function runShell(command: string, args: string[], stdin?: NodeJS.ReadableStream): Promise<ExecResult> {
  return new Promise<ExecResult>((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
    if (stdin) pipeline(stdin, child.stdin).catch(() => undefined);
    else child.stdin.end();
    child.on('error', reject);
    child.on('close', (code) => resolve({ exitCode: code ?? -1, message: '', stdout, stderr }));
  });
}
