/**
 * A static program carried into the cluster in ConfigMaps and run from them, on any image a node already
 * has: the stage-0 loader (a few hundred bytes) and the program's chunks (at most CONFIGMAP_DATA_BYTES
 * each, one per ConfigMap, as no Go program fits the API server's 1 MiB) are projected into one
 * directory, and the container's command is the loader, which joins the chunks into a memfd and executes
 * it. Names carry a hash of the bytes, so a ConfigMap of that name holds exactly these bytes (it is
 * immutable; one that differs is replaced).
 */
import { createReadStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import type * as k8s from '@kubernetes/client-node';
import { AbortError, ExitCode } from '../errors.js';
import { api, apiStatus, type ClusterConnection } from '../cluster/kube.js';
import { CONFIGMAP_DATA_BYTES, LABEL_MANAGED_BY } from './plan.js';
import type { InjectorBinary } from './injector-binary.js';

export const LABEL_PROGRAM = 'lading.dev/program';
export const LABEL_PROGRAM_ROLE = 'lading.dev/program-role';

export interface CarriedProgram {
  /** sha256 of loader and program, 12 hex digits: part of every name. */
  id: string;
  configMaps: k8s.V1ConfigMap[];
  /** One projected volume with every key, executable. */
  volume: k8s.V1Volume;
  /** The loader and the chunks, in order, then `--`: append the program's argv (argv[0] first). */
  command: string[];
}

/** Reads the loader and the program (checking both against their sha256) into ConfigMaps named ROLE-ID-N. */
export async function carryProgram(binary: InjectorBinary, role: string, mountPath: string, chunkBytes = CONFIGMAP_DATA_BYTES): Promise<CarriedProgram> {
  const loader = await readFile(binary.loader.path);
  if (createHash('sha256').update(loader).digest('hex') !== binary.loader.sha256) {
    throw new AbortError(`${binary.loader.path} changed while lading read it`, { exitCode: ExitCode.integrity });
  }
  const chunks: Buffer[] = [];
  const whole = createHash('sha256');
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  for await (const piece of createReadStream(binary.path, { highWaterMark: 64 << 10 }) as AsyncIterable<Buffer>) {
    whole.update(piece);
    let rest = piece;
    while (rest.length) {
      const take = Math.min(rest.length, chunkBytes - pendingBytes);
      pending.push(rest.subarray(0, take));
      pendingBytes += take;
      rest = rest.subarray(take);
      if (pendingBytes === chunkBytes) {
        chunks.push(Buffer.concat(pending));
        pending = [];
        pendingBytes = 0;
      }
    }
  }
  if (pendingBytes) chunks.push(Buffer.concat(pending));
  if (whole.digest('hex') !== binary.sha256) {
    throw new AbortError(`${binary.path} changed while lading read it`, { exitCode: ExitCode.integrity });
  }
  const id = createHash('sha256').update(binary.loader.sha256).update(binary.sha256).digest('hex').slice(0, 12);
  const labels = { [LABEL_MANAGED_BY]: 'lading', [LABEL_PROGRAM]: id, [LABEL_PROGRAM_ROLE]: role };
  const configMaps = chunks.map((chunk, n): k8s.V1ConfigMap => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `${role}-${id}-${n}`, labels },
    immutable: true,
    binaryData: { ...(n === 0 ? { loader: loader.toString('base64') } : {}), [`program.${n}`]: chunk.toString('base64') },
  }));
  return {
    id,
    configMaps,
    volume: {
      name: role,
      projected: { defaultMode: 0o555, sources: configMaps.map((cm) => ({ configMap: { name: cm.metadata!.name! } })) },
    },
    command: [`${mountPath}/loader`, ...chunks.map((_, n) => `${mountPath}/program.${n}`), '--'],
  };
}

/** Creates the program's ConfigMaps in `namespace`; one of the same name with other bytes is replaced. */
export async function ensureProgram(conn: ClusterConnection, namespace: string, program: CarriedProgram): Promise<void> {
  for (const cm of program.configMaps) {
    const name = cm.metadata!.name!;
    const created = await api(`create ConfigMap ${name}`, () =>
      conn.core.createNamespacedConfigMap({ namespace, body: cm }).then(
        () => true,
        (error: unknown) => (apiStatus(error) === 409 ? false : Promise.reject(error)),
      ),
    );
    if (created) continue;
    const existing = await api(`read ConfigMap ${name}`, () => conn.core.readNamespacedConfigMap({ namespace, name }));
    const same = JSON.stringify(existing.binaryData ?? {}) === JSON.stringify(cm.binaryData);
    if (same) continue;
    await api(`replace ConfigMap ${name}`, () => conn.core.deleteNamespacedConfigMap({ namespace, name }));
    await api(`create ConfigMap ${name}`, () => conn.core.createNamespacedConfigMap({ namespace, body: cm }));
  }
}

/** Deletes the ConfigMaps of every program of `role` but `keepId` (none: all of them). */
export async function removePrograms(conn: ClusterConnection, namespace: string, role: string, keepId?: string): Promise<number> {
  const list = await api('list ConfigMaps', () => conn.core.listNamespacedConfigMap({ namespace, labelSelector: `${LABEL_MANAGED_BY}=lading,${LABEL_PROGRAM_ROLE}=${role}` }));
  const stale = list.items.filter((cm) => cm.metadata?.labels?.[LABEL_PROGRAM] !== keepId);
  for (const cm of stale) {
    await conn.core.deleteNamespacedConfigMap({ namespace, name: cm.metadata!.name! }).catch((error: unknown) => {
      if (apiStatus(error) !== 404) throw error;
    });
  }
  return stale.length;
}
