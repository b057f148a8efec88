/**
 * ConfigMaps written to disk the way the kubelet mounts them (its atomic writer): per ConfigMap a
 * directory holding a timestamped directory with a file per key, a `..data` symlink to it, and per key
 * a symlink `KEY -> ..data/KEY`. Tests run the injector on this exactly as it would see a pod's volumes.
 */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LABEL_PART } from './plan.js';
import type { PayloadConfigMap } from './payload.js';

const KEY = /^[-._a-zA-Z0-9]+$/;

/** Writes each ConfigMap under `dir`; returns their directories in order (the injector's arguments). */
export async function writePayloadDir(configMaps: AsyncIterable<PayloadConfigMap> | Iterable<PayloadConfigMap>, dir: string): Promise<string[]> {
  const dirs: string[] = [];
  const stamp = `..${new Date().toISOString().replace(/[-:T]/g, '_').replace('Z', '')}`;
  for await (const configMap of configMaps) {
    const name = configMap.metadata.name;
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name)) throw new Error(`ConfigMap name "${name}" is not a DNS label`);
    const root = join(dir, name);
    await mkdir(join(root, stamp), { recursive: true });
    // The pod mounts the injector's ConfigMaps executable (defaultMode 0555), the rest 0444 (read-only).
    const mode = configMap.metadata.labels[LABEL_PART] === 'injector' ? 0o555 : 0o444;
    const files: Array<[string, Buffer]> = [
      ...Object.entries(configMap.binaryData ?? {}).map(([key, value]): [string, Buffer] => [key, Buffer.from(value, 'base64')]),
      ...Object.entries(configMap.data ?? {}).map(([key, value]): [string, Buffer] => [key, Buffer.from(value)]),
    ];
    for (const [key, bytes] of files) {
      if (!KEY.test(key) || key.startsWith('..')) throw new Error(`ConfigMap ${name}: "${key}" is not a valid key`);
      await writeFile(join(root, stamp, key), bytes, { mode });
    }
    await symlink(stamp, join(root, '..data'));
    for (const [key] of files) await symlink(join('..data', key), join(root, key));
    dirs.push(root);
  }
  return dirs;
}
