/**
 * Errors as a small hierarchy (after Shopify cli-kit): an AbortError is expected
 * (bad input, unreachable registry, failed verification) and carries a message,
 * a next step and an exit code; a BugError is lading's own fault.
 * One top-level handler (src/cli/main.ts) turns them into a banner and an exit code.
 */

/** Exit codes, documented in `lading --help`. */
export const ExitCode = {
  ok: 0,
  /** Something went wrong that has no more specific code. */
  failure: 1,
  /** Bad command line (unknown flag, missing argument). */
  usage: 2,
  /** The spec file is missing or invalid. */
  spec: 3,
  /** A registry could not be reached or answered with an error (missing tag, 5xx after retries). */
  registry: 4,
  /** A registry refused our credentials (401/403). */
  auth: 5,
  /** A digest or size did not match, or a bundle failed verification. */
  integrity: 6,
  /** A bundle file is missing, unreadable or not a lading bundle. */
  bundle: 7,
  /** The cluster could not be reached, or answered with an error. */
  cluster: 8,
  /** The cluster refused an action lading needs (RBAC, admission). */
  permission: 9,
  /** A node cannot take the bundle (platform, disk, runtime) or did not do what was asked. */
  node: 10,
  /** Interrupted by the operator (Ctrl-C). */
  interrupted: 130,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export interface AbortOptions {
  /** What the operator can do next, one sentence. */
  hint?: string;
  exitCode?: ExitCodeValue;
  cause?: unknown;
}

export class AbortError extends Error {
  readonly hint: string | undefined;
  readonly exitCode: ExitCodeValue;
  constructor(message: string, options: AbortOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AbortError';
    this.hint = options.hint;
    this.exitCode = options.exitCode ?? ExitCode.failure;
  }
}

/** The operator asked us to stop (Ctrl-C); not a failure of lading's. */
export class InterruptedError extends AbortError {
  constructor() {
    super('Interrupted', { exitCode: ExitCode.interrupted });
    this.name = 'InterruptedError';
  }
}

/** lading's own fault: printed with its stack and a request to report it. */
export class BugError extends Error {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BugError';
  }
}

/** An error reaching a registry, with what we know of it for retry decisions. */
export class RegistryError extends AbortError {
  readonly status: number | undefined;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  constructor(
    message: string,
    options: AbortOptions & { status?: number; retryable?: boolean; retryAfterMs?: number } = {},
  ) {
    super(message, { exitCode: ExitCode.registry, ...options });
    this.name = 'RegistryError';
    this.status = options.status;
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }
}

export function isAbortError(error: unknown): error is AbortError {
  return error instanceof AbortError;
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
