/**
 * A shell on a node's host: what runtime and configuration steps need. The
 * node agent (core/cluster/agent.ts) provides one through the API server;
 * anything else that can run /bin/sh on the host could too.
 */
import type { Readable } from 'node:stream';
import type { ExecResult } from './cluster/exec.js';

export interface HostShell {
  /** The node's name, for messages. */
  node: string;
  /**
   * Runs a /bin/sh script on the host, streaming stdin if given. `bulk`: stdin is large (an image archive),
   * worth the agent's faster way in when it has one.
   */
  hostExec(script: string, options?: { stdin?: Readable; signal?: AbortSignal; bulk?: boolean }): Promise<ExecResult>;
}

/** Single-quotes a value for /bin/sh. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
