/**
 * Runtime settings that quietly defeat air-gapped images, named with their
 * consequence and the setting that avoids them. Read from the node's own
 * configuration (runtimes/node-config.ts); pure, so each rule is tested on
 * its own. None fails a node: they are warnings in the report.
 */
import type { NodeConfig } from '../runtimes/node-config.js';
import type { Warning } from './report.js';

export interface TrapInput {
  runtime: 'containerd' | 'cri-o' | 'unknown';
  /** As the node reports it: containerd://2.2.9, cri-o://1.34.0. */
  runtimeVersion: string;
  config: NodeConfig;
  keepFreePercent: number;
  /** CRI-O: where the node's sandbox image is now. */
  sandbox?: { image: string; inDefaultStore: boolean; inAdditionalStore: boolean };
}

/** The kubelet's default imageGCHighThresholdPercent. */
const KUBELET_GC_HIGH = 85;

export function versionOf(runtimeVersion: string): number[] | undefined {
  const match = /:\/\/v?(\d+)\.(\d+)\.(\d+)/.exec(runtimeVersion);
  return match ? match.slice(1, 4).map(Number) : undefined;
}

const before = (v: number[], limit: number[]) => v[0]! !== limit[0]! ? v[0]! < limit[0]! : v[1]! !== limit[1]! ? v[1]! < limit[1]! : v[2]! < limit[2]!;

/** containerd's CRI reads the pinned label from 1.6.22 and 1.7.3 on (2.x always). */
export function containerdHonoursPins(version: number[]): boolean {
  if (version[0]! >= 2) return true;
  if (version[0] === 1 && version[1] === 6) return !before(version, [1, 6, 22]);
  if (version[0] === 1 && version[1]! >= 7) return !before(version, [1, 7, 3]);
  return false;
}

/**
 * CRI-O versions that vendor containers/storage older than v1.64 (every one
 * the Go module proxy serves, 1.34 to 1.36): a read-write layer whose parent
 * is in an additional store is reported as damaged.
 */
export const crioHasOldStorage = (version: number[]) => version[0] === 1 && version[1]! <= 36;

export function runtimeTraps(input: TrapInput): Warning[] {
  const warnings: Warning[] = [];
  const version = versionOf(input.runtimeVersion);
  const gcHigh = input.config.kubelet.gcHighPercent;
  const high = gcHigh?.value ?? KUBELET_GC_HIGH;
  if (high < 100 && 100 - high > input.keepFreePercent) {
    warnings.push({
      message: `the kubelet deletes unused images once the image filesystem is ${high} % full (imageGCHighThresholdPercent, ${gcHigh?.source ?? 'its default'}), but --keep-free ${input.keepFreePercent} lets it fill to ${100 - input.keepFreePercent} %: images nobody pinned can be deleted right after they arrive`,
      hint: `Pass --keep-free ${100 - high} (lading pins its own images; the kubelet may still delete others).`,
    });
  }
  const containerd = input.config.containerd;
  if (input.runtime === 'containerd' && containerd) {
    if (containerd.settings.unreadable) {
      warnings.push({ message: `${containerd.configPath} is not valid TOML: its settings were not checked` });
    }
    if (containerd.settings.discardUnpackedLayers) {
      warnings.push({
        message: `containerd discards the compressed layers of images it pulls once unpacked (discard_unpacked_layers = true in ${containerd.configPath}): such images can never be unpacked again (another snapshotter, a damaged snapshot) or exported, and an air-gapped node cannot fetch them back`,
        hint: `Set discard_unpacked_layers = false in ${containerd.configPath} and restart containerd (images lading imports keep their layers either way).`,
      });
    }
  }
  if (input.runtime === 'containerd' && version && !containerdHonoursPins(version)) {
    warnings.push({
      message: `containerd ${version.join('.')} does not read the io.cri-containerd.pinned label (1.6.22, 1.7.3 and later do): the kubelet's image GC can delete lading's images once the image filesystem passes its threshold`,
      hint: 'Upgrade containerd, or keep the image filesystem well below the kubelet\'s imageGCHighThresholdPercent (--keep-free).',
    });
  }
  const crio = input.config.crio?.settings;
  if (input.runtime === 'cri-o' && crio) {
    for (const file of crio.unreadable) warnings.push({ message: `${file} is not valid TOML: its settings were not checked` });
    if (crio.storageOptions) {
      warnings.push({
        message: `storage_option in ${crio.sources.storageOptions} replaces storage.conf's options, so CRI-O does not see the additional image store lading lists there`,
        hint: 'Remove storage_option from crio.conf (keep the options in storage.conf), or add the store to it as additionalimagestore=DIR.',
      });
    }
    const sandbox = input.sandbox;
    if (version && crioHasOldStorage(version) && crio.internalRepair !== false && sandbox?.inAdditionalStore && !sandbox.inDefaultStore) {
      warnings.push({
        message:
          `CRI-O ${version.join('.')} vendors containers/storage older than v1.64, which reports a container's layer as damaged when its parent lives in an additional store; ` +
          `the sandbox image ${sandbox.image} is only in an additional store, so every pod has such a layer, and with internal_repair = true (${crio.sources.internalRepair ?? 'the default'}) ` +
          'a crash of CRI-O with pods running "repairs" the default store by wiping all of it',
        hint: 'Set internal_repair = false in a drop-in under /etc/crio/crio.conf.d (then restart CRI-O), or keep the sandbox image in the default store too.',
      });
    }
  }
  return warnings;
}
