/** How a command shows itself: the Ink app, plain lines, or one JSON document. */
export type OutputMode = 'tui' | 'plain' | 'json';

export interface Streams {
  stdout: NodeJS.WriteStream;
  stderr: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
}

export function pickOutputMode(options: { json?: boolean; tui?: boolean }, streams: Streams, env: NodeJS.ProcessEnv): OutputMode {
  if (options.json) return 'json';
  if (options.tui === false) return 'plain';
  if (isCi(env) || !streams.stdout.isTTY || env.TERM === 'dumb') return 'plain';
  return 'tui';
}

/** The same rule as Ink's (is-in-ci): set at all, and not "0" or "false"; Ink would not draw live frames then. */
export function isCi(env: NodeJS.ProcessEnv): boolean {
  const set = (key: string) => key in env && env[key] !== '0' && env[key] !== 'false';
  return set('CI') || set('CONTINUOUS_INTEGRATION');
}

/** NO_COLOR (https://no-color.org) and non-terminals get no escape codes. */
export function useColor(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  if (env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '0') return true;
  return Boolean(stream.isTTY) && env.TERM !== 'dumb';
}

export function writeJson(stream: NodeJS.WriteStream, value: unknown): void {
  stream.write(JSON.stringify(value, null, 2) + '\n');
}
