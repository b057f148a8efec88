/**
 * Text from a bundle, a registry or a node is shown to the operator only
 * through these: control characters (C0, DEL, C1, so no escape sequence ever
 * reaches the terminal), line and paragraph separators, and the invisible
 * characters that reorder or hide text (bidi overrides, zero-width) are shown
 * as escapes instead of being sent.
 */

const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]/g;
const UNSAFE_KEEP_NEWLINES = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb]/g;

function escape(char: string): string {
  switch (char) {
    case '\n':
      return '\\n';
    case '\r':
      return '\\r';
    case '\t':
      return '\\t';
    case '\u001b':
      return '\\e';
  }
  const code = char.charCodeAt(0);
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u{${code.toString(16)}}`;
}

/** One value, safe on one line: every unsafe character (newlines too) escaped. */
export function printable(text: string): string {
  return text.replace(UNSAFE, escape);
}

/** A message of several lines: lines kept, everything else that is unsafe escaped. */
export function printableLines(text: string): string {
  return text.replace(UNSAFE_KEEP_NEWLINES, escape);
}
