/**
 * Reading what a node says about itself in one round trip: files (by path or
 * by glob), and the command lines of running processes by name. Sections are
 * marked with a random token, so no file content can pose as another file.
 * Each file is read up to 256 KiB; what is absent is reported as absent.
 */
import { randomBytes } from 'node:crypto';
import { shellQuote, type HostShell } from '../host.js';
import { AbortError, ExitCode } from '../errors.js';
import { nodeSaid } from '../config/host-files.js';

export const MAX_FILE_BYTES = 256 << 10;

export interface HostReading {
  /** Path -> content; a path read but absent is not in the map. */
  files: Map<string, string>;
  /** Process name -> its arguments (the first process of that name). */
  cmdlines: Map<string, string[]>;
  /** Everything looked at, in order, for a message that names it. */
  looked: string[];
}

export interface HostReadRequest {
  paths?: string[];
  /** A directory's files matching a constant pattern (`*.conf`), in the order the shell sorts them. */
  globs?: Array<{ dir: string; pattern: '*.conf' }>;
  /** Process names (as /proc/PID/comm shows them) whose command lines are wanted. */
  processes?: string[];
}

/** The script for a request; `marker` starts every section line. */
export function hostReadScript(request: HostReadRequest, marker: string): string {
  const lines: string[] = [];
  (request.paths ?? []).forEach((path, i) => {
    const q = shellQuote(path);
    lines.push(`if [ -f ${q} ]; then echo '${marker} path ${i}'; head -c ${MAX_FILE_BYTES} ${q}; echo; fi`);
  });
  for (const { dir, pattern } of request.globs ?? []) {
    // The pattern is a constant; the names it matches are the node's, printed on one line each.
    lines.push(`for f in ${shellQuote(dir)}/${pattern}; do [ -f "$f" ] || continue; printf '${marker} glob %s\\n' "$f" | tr -d '\\r'; head -c ${MAX_FILE_BYTES} "$f"; echo; done`);
  }
  if (request.processes?.length) {
    // One pass over /proc with shell builtins only; the first process of each name.
    const names = ` ${request.processes.filter((p) => /^[a-z0-9._-]+$/i.test(p)).join(' ')} `;
    lines.push(
      `seen=' '; for p in /proc/[0-9]*; do c=''; read -r c 2>/dev/null < "$p/comm" || continue; case '${names}' in *" $c "*) ;; *) continue;; esac; case "$seen" in *" $c "*) continue;; esac; seen="$seen$c "; echo "${marker} cmdline $c"; tr '\\000' '\\n' < "$p/cmdline"; echo; done`,
    );
  }
  return lines.join('\n');
}

/** Splits the script's output into files and command lines. */
export function parseHostRead(stdout: string, request: HostReadRequest, marker: string): HostReading {
  const files = new Map<string, string>();
  const cmdlines = new Map<string, string[]>();
  let current: { kind: 'file'; path: string; lines: string[] } | { kind: 'cmdline'; name: string; lines: string[] } | undefined;
  const flush = () => {
    if (!current) return;
    // The script adds one newline after each file, in case it lacked one.
    if (current.kind === 'file') files.set(current.path, current.lines.join('\n').replace(/\n$/, ''));
    else cmdlines.set(current.name, current.lines.filter((l) => l !== ''));
  };
  for (const line of stdout.split('\n')) {
    if (line.startsWith(`${marker} `)) {
      flush();
      const [kind, ...rest] = line.slice(marker.length + 1).split(' ');
      const arg = rest.join(' ');
      if (kind === 'path') current = { kind: 'file', path: request.paths?.[Number(arg)] ?? '?', lines: [] };
      else if (kind === 'glob') current = { kind: 'file', path: arg, lines: [] };
      else current = { kind: 'cmdline', name: arg, lines: [] };
    } else current?.lines.push(line);
  }
  flush();
  const looked = [...(request.processes ?? []).map((p) => `the ${p} command line`), ...(request.paths ?? []), ...(request.globs ?? []).map((g) => `${g.dir}/${g.pattern}`)];
  return { files, cmdlines, looked };
}

export async function readHost(shell: HostShell, request: HostReadRequest): Promise<HostReading> {
  const marker = `== lading-${randomBytes(8).toString('hex')}:`;
  const result = await shell.hostExec(hostReadScript(request, marker));
  if (result.exitCode !== 0) {
    throw new AbortError(`node ${shell.node}: reading its configuration failed: ${nodeSaid(result)}`, { exitCode: ExitCode.node });
  }
  return parseHostRead(result.stdout, request, marker);
}
