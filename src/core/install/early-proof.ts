/**
 * The proof pods of a second install, started beside the node's agent.
 * Where the node's record says the bundle is complete there, the proof is
 * most of a second install's time and needs nothing the agent finds out.
 * Its verdicts count only when the runtime's listing then confirmed every
 * image and no runtime file changed, so nothing the pods saw can have moved
 * since; otherwise it is stopped (its pods deleted) and the proof runs again
 * after the work. Proof pods use `imagePullPolicy: Never`: starting them
 * early cannot make the node pull anything.
 */
import type { BundleImage } from '../bundle/layout.js';
import type { ClusterConnection } from '../cluster/kube.js';
import { runSmokePods, type SmokeResult } from './smoke.js';

export class EarlyProof {
  private readonly stop = new AbortController();
  private readonly outcome: Promise<SmokeResult | undefined>;

  constructor(
    conn: ClusterConnection,
    readonly options: { namespace: string; node: string; images: BundleImage[]; signal?: AbortSignal | undefined },
  ) {
    const signal = options.signal ? AbortSignal.any([options.signal, this.stop.signal]) : this.stop.signal;
    // A failure here is not the install's: the proof then runs again in its place, and fails there if it must.
    this.outcome = runSmokePods(conn, { ...options, signal }).catch(() => undefined);
  }

  /** Whether it proves exactly these images. */
  covers(images: readonly BundleImage[]): boolean {
    return images.length === this.options.images.length && images.every((image, i) => image.name === this.options.images[i]!.name);
  }

  /** Its verdicts, or undefined where it could not run to the end. */
  result(): Promise<SmokeResult | undefined> {
    return this.outcome;
  }

  /** Stops it and waits until its pods are deleted (nothing to do once it has ended). */
  async discard(): Promise<void> {
    this.stop.abort();
    await this.outcome;
  }
}
