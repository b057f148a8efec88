/** Small helpers for the view tests in src/ui. */
import { stripVTControlCharacters } from 'node:util';

/** The last frame Ink wrote, without colours, so tests compare plain text. */
export function plain(frame: string | undefined): string {
  return stripVTControlCharacters(frame ?? '');
}

/** Lets React commit updates that came from a store notification. */
export function nextRender(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
