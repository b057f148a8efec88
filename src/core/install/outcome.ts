/**
 * What "the image is fine on this node" means, in one place: the runtime
 * holds it under every name a pod may use, with the bundle's digest. Install,
 * check, the repair's narrowing, the task titles and the report all ask here.
 */
import type { BundleImage } from '../bundle/layout.js';
import type { ImageOutcome, ImageReport, NodeReport } from './report.js';

/** Outcomes that leave the image usable on the node. */
export function isGood(outcome: ImageOutcome): boolean {
  return outcome === 'injected' || outcome === 'present';
}

/** How a runtime answers for one image: the digest under its name, whether every name a pod may use resolves to it, and what keeps it from GC. */
export interface HeldImage {
  digest: string | undefined;
  held: boolean;
  pinnedBy?: ImageReport['pinnedBy'] | undefined;
}

/** Each image as the runtime holds it: injected (this run), present, missing or different. */
export function imageOutcomes(images: readonly BundleImage[], held: (image: BundleImage) => HeldImage, injected: ReadonlySet<string>): ImageReport[] {
  return images.map((image) => {
    const { digest, held: ok, pinnedBy } = held(image);
    const other = digest !== undefined && digest !== image.root.digest;
    const outcome: ImageOutcome = ok ? (injected.has(image.name) ? 'injected' : 'present') : other ? 'wrong-digest' : 'missing';
    return {
      name: image.name,
      digest: image.root.digest,
      outcome,
      ...(other ? { detail: `node has ${digest}` } : !ok && digest ? { detail: 'under its tag only: a pod that names its digest would pull' } : {}),
      ...(ok ? { pinned: pinnedBy !== undefined, ...(pinnedBy ? { pinnedBy } : {}) } : {}),
    };
  });
}

/** Counts for a node's one-line summary. */
export function tally(report: NodeReport): { injected: number; present: number; bad: number } {
  const injected = report.images.filter((i) => i.outcome === 'injected').length;
  const present = report.images.filter((i) => i.outcome === 'present').length;
  return { injected, present, bad: report.images.length - injected - present };
}

/** The images a node no longer holds as the bundle has them (all of them when the node could not be checked). */
export function lostImages(report: NodeReport, planned: readonly BundleImage[]): string[] {
  if (report.error) return planned.map((image) => image.name);
  return report.images.filter((i) => !isGood(i.outcome)).map((i) => i.name);
}

/** Images the node holds that the kubelet's image GC may still delete. */
export function unpinnedImages(report: NodeReport): string[] {
  return report.images.filter((i) => isGood(i.outcome) && i.pinned === false).map((i) => i.name);
}

/** Whether a node did all that was asked: checked without error, every image fine, and (for install) the pods started. */
export function nodeOk(report: NodeReport, { smoke }: { smoke: boolean }): boolean {
  return !report.error && report.images.length > 0 && report.images.every((i) => isGood(i.outcome)) && (!smoke || report.smoke?.ok === true);
}
