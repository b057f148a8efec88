/**
 * The error banner printed when a command fails, as a plain string (no Ink:
 * it must work after the Ink view is gone, and when stderr is not a terminal).
 */
import { printableLines } from '../core/util/printable.js';
import { AbortError } from '../core/errors.js';

export interface BannerOptions {
  /** false when NO_COLOR is set or stderr is not a TTY: then no escape sequence at all. */
  color: boolean;
  /** Wrap the framed text to fit this many columns. */
  columns?: number;
  /**
   * false for logs and pipes: plain `Error:`/`Next:` lines, unwrapped, so a
   * message stays on one line for grep. Default true.
   */
  framed?: boolean;
}

const RED = '\u001b[31m';
const BOLD = '\u001b[1m';
const DIM = '\u001b[2m';
const RESET = '\u001b[0m';

export function formatErrorBanner(error: unknown, options: BannerOptions): string {
  const paint = (codes: string, text: string): string => (options.color ? `${codes}${text}${RESET}` : text);
  // Messages can carry names from a bundle or words from a registry: control characters are shown escaped, never sent.
  const clean = printableLines;

  if (error instanceof AbortError && options.framed === false) {
    const lines = [paint(RED + BOLD, `Error: ${clean(error.message)}`)];
    if (error.hint) lines.push(`Next: ${clean(error.hint)}`);
    return lines.join('\n');
  }
  if (error instanceof AbortError) {
    const width = Math.max(20, (options.columns ?? 80) - 4);
    const body = wrap(clean(error.message), width);
    if (error.hint) body.push('', ...wrap(`Next: ${clean(error.hint)}`, width));
    return frame('Error', body, paint);
  }

  const message = clean(error instanceof Error ? error.message : String(error));
  const stack = error instanceof Error && error.stack ? stackFrames(clean(error.stack)) : [];
  return [
    paint(RED + BOLD, `Error: ${message}`),
    ...stack.map((line) => paint(DIM, line)),
    '',
    'This is a bug in lading; please report it with the output above.',
  ].join('\n');
}

/** The "at ..." lines of a stack (the first lines repeat the message). */
function stackFrames(stack: string): string[] {
  return stack.split('\n').filter((line) => /^\s+at /.test(line));
}

function frame(title: string, body: string[], paint: (codes: string, text: string) => string): string {
  const inner = Math.max(title.length + 3, ...body.map((line) => [...line].length));
  const border = (text: string): string => paint(RED, text);
  return [
    `${border('╭─ ')}${paint(RED + BOLD, title)}${border(` ${'─'.repeat(inner - title.length - 1)}╮`)}`,
    ...body.map((line) => `${border('│')} ${line}${' '.repeat(inner - [...line].length)} ${border('│')}`),
    border(`╰${'─'.repeat(inner + 2)}╯`),
  ].join('\n');
}

/** Word-wraps to `width`; a single word longer than that stays whole. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(/ +/)) {
      if (line && [...line].length + 1 + [...word].length > width) {
        lines.push(line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    lines.push(line);
  }
  return lines;
}
