/** Runs the real CLI in a pseudo-terminal (util-linux `script`), typing keys when the screen shows something. */
import { spawn } from 'node:child_process';
import { stripVTControlCharacters } from 'node:util';
import { LADING_BIN } from './lading.js';
import { requireTool } from './tools.js';

export interface TtyRun {
  code: number | null;
  screen: string;
  raw: string;
}

/** Runs lading under a pseudo-terminal of 100x30; `typeAfter` types keys once the output matches. */
export function runInTty(args: string[], env: NodeJS.ProcessEnv, typeAfter?: { when: RegExp; keys: string }): Promise<TtyRun> {
  const command = [LADING_BIN, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  const script = requireTool('script', 'install it with `apt-get install bsdutils` (util-linux script)');
  return new Promise((resolve, reject) => {
    // A terminal session as a person has it: no CI variable (Ink and lading both read it), colours on.
    const { CI: _ci, NO_COLOR: _noColor, FORCE_COLOR: _force, ...rest } = process.env;
    const child = spawn(script, ['-qefc', `stty cols 100 rows 30; exec ${command}`, '/dev/null'], {
      env: { ...rest, TERM: 'xterm-256color', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let raw = '';
    let typed = false;
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      raw += s;
      if (typeAfter && !typed && typeAfter.when.test(stripVTControlCharacters(raw))) {
        typed = true;
        child.stdin.write(typeAfter.keys);
      }
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code, raw, screen: stripVTControlCharacters(raw) });
    });
  });
}

