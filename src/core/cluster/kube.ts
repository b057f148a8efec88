/**
 * The connection to a cluster: kubeconfig (flag, KUBECONFIG, ~/.kube/config),
 * context, and the typed API clients lading uses. Errors from the API become
 * AbortErrors that say which call failed and why.
 */
import * as k8s from '@kubernetes/client-node';
import { AbortError, ExitCode } from '../errors.js';

export interface ClusterConnection {
  kc: k8s.KubeConfig;
  context: string;
  server: string;
  core: k8s.CoreV1Api;
  authz: k8s.AuthorizationV1Api;
  version: k8s.VersionApi;
}

export interface ConnectOptions {
  kubeconfig?: string;
  context?: string;
}

export function connectCluster(options: ConnectOptions): ClusterConnection {
  const kc = new k8s.KubeConfig();
  try {
    if (options.kubeconfig) kc.loadFromFile(options.kubeconfig);
    else kc.loadFromDefault();
  } catch (error) {
    throw new AbortError(`cannot load kubeconfig${options.kubeconfig ? ` ${options.kubeconfig}` : ''}: ${(error as Error).message}`, {
      exitCode: ExitCode.cluster,
      hint: 'Pass --kubeconfig FILE or set KUBECONFIG.',
    });
  }
  if (options.context) {
    if (!kc.getContexts().some((c) => c.name === options.context)) {
      throw new AbortError(`kubeconfig has no context "${options.context}"`, {
        exitCode: ExitCode.cluster,
        hint: `Contexts: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'}.`,
      });
    }
    kc.setCurrentContext(options.context);
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster) {
    throw new AbortError('the kubeconfig names no current cluster', { exitCode: ExitCode.cluster, hint: 'Pass --context NAME.' });
  }
  return {
    kc,
    context: kc.getCurrentContext(),
    server: cluster.server,
    core: kc.makeApiClient(k8s.CoreV1Api),
    authz: kc.makeApiClient(k8s.AuthorizationV1Api),
    version: kc.makeApiClient(k8s.VersionApi),
  };
}

/** HTTP status of an API error from client-node, if it has one. */
export function apiStatus(error: unknown): number | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' ? code : undefined;
}

/** The API server's own message in an error body, if any. */
export function apiMessage(error: unknown): string {
  const body = (error as { body?: unknown }).body;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { message?: string };
      if (parsed.message) return parsed.message;
    } catch {
      return body.slice(0, 300);
    }
  }
  if (body && typeof body === 'object' && 'message' in body) return String((body as { message: unknown }).message);
  return (error as Error).message ?? String(error);
}

/** The first system error code (ECONNREFUSED, ...) in an error's cause chain. */
function networkCode(error: unknown): string | undefined {
  let current: unknown = error;
  for (let depth = 0; current && depth < 6; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    const errors = (current as { errors?: unknown[] }).errors;
    if (Array.isArray(errors) && errors.length) return networkCode(errors[0]);
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Wraps an API call: failures name the action, and 403s become permission errors. */
export async function api<T>(action: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof AbortError) throw error;
    const status = apiStatus(error);
    if (status === 403) {
      throw new AbortError(`${action}: forbidden: ${apiMessage(error)}`, {
        exitCode: ExitCode.permission,
        hint: 'Ask for the RBAC rights lading install needs (see lading install --help).',
        cause: error,
      });
    }
    if (status === undefined) {
      throw new AbortError(`${action}: cannot reach the cluster (${networkCode(error) ?? (error as Error).message})`, {
        exitCode: ExitCode.cluster,
        hint: 'Check the kubeconfig server address and that this machine can reach it.',
        cause: error,
      });
    }
    throw new AbortError(`${action}: ${status} ${apiMessage(error)}`, { exitCode: ExitCode.cluster, cause: error });
  }
}
