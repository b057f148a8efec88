/**
 * JSON.parse with limits on what the result may cost: a byte limit alone does
 * not bound memory (60 MiB of `{}` became 1.5 GB of objects) nor the parser's
 * recursion (deep nesting). One pass over the bytes counts containers and
 * values and measures nesting before anything is allocated.
 */

export interface JsonLimits {
  maxBytes: number;
  /** Objects, arrays and their members, counted before parsing. */
  maxValues: number;
  maxDepth: number;
}

export class JsonLimitError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'JsonLimitError';
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Parses `bytes` as JSON; throws JsonLimitError (over a limit) or SyntaxError (not JSON). */
export function parseBoundedJson(bytes: Uint8Array, limits: JsonLimits): unknown {
  if (bytes.length > limits.maxBytes) throw new JsonLimitError(`${bytes.length} bytes, more than the ${limits.maxBytes} allowed`);
  let depth = 0;
  let values = 0;
  let inString = false;
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    if (inString) {
      if (b === BACKSLASH) i++;
      else if (b === QUOTE) inString = false;
      continue;
    }
    switch (b) {
      case QUOTE:
        inString = true;
        break;
      case 0x7b: // {
      case 0x5b: // [
        if (++depth > limits.maxDepth) throw new JsonLimitError(`nested deeper than ${limits.maxDepth} levels`);
        values++;
        break;
      case 0x7d: // }
      case 0x5d: // ]
        depth--;
        break;
      case 0x2c: // ,
      case 0x3a: // :
        values++;
        break;
    }
    if (values > limits.maxValues) throw new JsonLimitError(`more than ${limits.maxValues} values`);
  }
  return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('utf8'));
}
