/**
 * Byte progress that tells the truth: done never decreases, throughput is a
 * moving window over real samples, and the ETA only appears once there is a
 * rate to base it on. Core publishes progress on a ProgressHub; views listen.
 */

export interface ByteProgress {
  done: number;
  total: number;
  /** Bytes per second over the recent window; 0 until two samples exist. */
  bytesPerSecond: number;
  /** Seconds left at the current rate, or undefined when unknown. */
  etaSeconds: number | undefined;
}

const WINDOW_MS = 3_000;

export class ProgressMeter {
  #done = 0;
  #total: number;
  #samples: Array<{ at: number; done: number }> = [];
  readonly #now: () => number;
  #lastEta: number | undefined;

  constructor(total: number, now: () => number = () => performance.now()) {
    this.#total = total;
    this.#now = now;
    this.#samples.push({ at: now(), done: 0 });
  }

  /** Adds bytes; a retry that re-reads bytes must not call this for them twice. */
  advance(bytes: number): void {
    if (bytes <= 0) return;
    this.#done = Math.min(this.#total, this.#done + bytes);
  }

  /** Marks the work as complete (e.g. every blob was already cached). */
  complete(): void {
    this.#done = this.#total;
  }

  get done(): number {
    return this.#done;
  }

  snapshot(): ByteProgress {
    const at = this.#now();
    this.#samples.push({ at, done: this.#done });
    while (this.#samples.length > 2 && at - this.#samples[0]!.at > WINDOW_MS) this.#samples.shift();
    const first = this.#samples[0]!;
    const elapsed = (at - first.at) / 1000;
    const bytesPerSecond = elapsed > 0.05 ? (this.#done - first.done) / elapsed : 0;
    const left = this.#total - this.#done;
    let eta: number | undefined;
    if (left <= 0) eta = 0;
    else if (bytesPerSecond > 0) eta = left / bytesPerSecond;
    // An ETA that jumps up by a few seconds every refresh reads as "going backwards":
    // allow it to rise only when the rate really dropped (by more than a quarter).
    if (eta !== undefined && this.#lastEta !== undefined && eta > this.#lastEta && eta < this.#lastEta * 1.25) {
      eta = this.#lastEta;
    }
    this.#lastEta = eta;
    return { done: this.#done, total: this.#total, bytesPerSecond, etaSeconds: eta };
  }
}

export interface ProgressEvent {
  /** Which unit of work this is about: for create, the image reference as written in the spec. */
  key: string;
  progress: ByteProgress;
}

type Listener = (event: ProgressEvent) => void;

/** A tiny typed publisher; listeners return an unsubscribe function so nobody leaks. */
export class ProgressHub {
  readonly #listeners = new Set<Listener>();

  subscribe(listener: Listener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  publish(event: ProgressEvent): void {
    for (const listener of this.#listeners) listener(event);
  }
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value >= 100 ? 0 : 1)} ${UNITS[unit]}`;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
