/**
 * A node that cannot start any pod because its sandbox (pause) image is gone
 * (a reset wiped the only store that held it): lading's agent cannot start
 * there either, so the way back is a command on the node's console. This
 * says so precisely, with that command, instead of "agent did not start".
 */
import { basename } from 'node:path';
import { AbortError, ExitCode } from '../errors.js';
import { printable } from '../util/printable.js';
import { DEFAULT_IMAGE_STORE } from '../config/storage-conf.js';
import { runrootFor, storageRef } from '../runtimes/containers-storage.js';

export interface SandboxGoneInput {
  node: string;
  runtime: 'containerd' | 'cri-o' | 'unknown';
  /** The sandbox image's name, when the node or lading's record says it. */
  image?: string | undefined;
  /** What the kubelet said, when it said anything. */
  said?: string | undefined;
  bundle: string;
  bundleCarries: boolean;
  /** CRI-O: lading's additional store (--image-store). */
  imageStore?: string | undefined;
}

/** The command to run on the node's console to put the sandbox image back from the bundle. */
export function restoreCommand(runtime: SandboxGoneInput['runtime'], bundle: string, image: string, imageStore = DEFAULT_IMAGE_STORE): string {
  const file = basename(bundle);
  if (runtime === 'cri-o') {
    // Into lading's read-only store, which CRI-O's wipe does not reach (storage.conf lists it); the default driver, as CRI-O's.
    return `skopeo copy oci-archive:${file}:${image} ${storageRef({ driver: 'overlay', root: imageStore, runroot: runrootFor(imageStore) }, image)}`;
  }
  return `ctr -n k8s.io images import ${file}`;
}

export function sandboxGoneError(input: SandboxGoneInput): AbortError {
  const image = input.image ? printable(input.image) : undefined;
  const message = `node ${input.node} cannot start any pod: its sandbox image ${image ?? '(name unknown: no install recorded it)'} is gone${input.said ? ` (the kubelet: ${printable(input.said)})` : ''}, so lading's agent cannot start there either`;
  const command = image ? restoreCommand(input.runtime, input.bundle, image, input.imageStore) : undefined;
  const hint = !image
    ? 'Find the sandbox image on the node (crio config | grep pause_image, or containerd config dump | grep sandbox), put it back from a bundle that carries it, then run lading check again.'
    : input.bundleCarries
      ? `On the node's console, with ${basename(input.bundle)} copied there: ${command}; then run lading check again.`
      : `The bundle does not carry ${image}: add it to the spec, lading create, copy the bundle to the node, and on its console: ${command}; then run lading install (it keeps the sandbox image where a wipe does not reach it).`;
  return new AbortError(message, { exitCode: ExitCode.node, hint });
}
