import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AbortError, BugError, ExitCode } from '../core/errors.js';
import { formatErrorBanner } from './banner.js';

const ESC = '\u001b';

describe('formatErrorBanner', () => {
  it('frames an AbortError with its next step', () => {
    const error = new AbortError('registry.example.com refused our credentials (401)', {
      hint: 'Log in with `docker login registry.example.com` and run lading create again.',
      exitCode: ExitCode.auth,
    });
    assert.equal(
      formatErrorBanner(error, { color: false }),
      `╭─ Error ─────────────────────────────────────────────────────────────────────╮
│ registry.example.com refused our credentials (401)                          │
│                                                                             │
│ Next: Log in with \`docker login registry.example.com\` and run lading create │
│ again.                                                                      │
╰─────────────────────────────────────────────────────────────────────────────╯`,
    );
  });

  it('fits a short message without a hint', () => {
    assert.equal(
      formatErrorBanner(new AbortError('Interrupted'), { color: false }),
      `╭─ Error ─────╮
│ Interrupted │
╰─────────────╯`,
    );
  });

  it('never sends an escape sequence from the message itself, with or without colour: it is shown escaped', () => {
    const error = new AbortError(`${ESC}[31mmanifest unknown${ESC}[0m`, { hint: `${ESC}[1mcheck the tag${ESC}[22m` });
    const text = formatErrorBanner(error, { color: false });
    assert.ok(!text.includes(ESC), JSON.stringify(text));
    assert.match(text, /│ \\e\[31mmanifest unknown\\e\[0m +│/);
    const coloured = formatErrorBanner(new AbortError(`title ${ESC}]0;owned\u0007 set`), { color: true });
    assert.ok(!coloured.includes(']0;owned\u0007'), 'an OSC sequence from a message never reaches a colour terminal');
    assert.match(coloured, /title \\e\]0;owned\\x07 set/);
    const bug = formatErrorBanner(new BugError(`bad ${ESC}[2mstate`), { color: false });
    assert.ok(!bug.includes(ESC), JSON.stringify(bug));
  });

  it('colours the frame when asked to', () => {
    const text = formatErrorBanner(new AbortError('disk full'), { color: true });
    assert.ok(text.includes(`${ESC}[31m`));
    assert.equal(text.replaceAll(/\u001b\[[0-9;]*m/g, ''), formatErrorBanner(new AbortError('disk full'), { color: false }));
  });

  it('prints a BugError with its stack and asks for a report', () => {
    const error = new BugError('layer index out of range');
    error.stack = `BugError: layer index out of range\n    at writeLayer (src/core/bundle/writer.ts:10:5)\n    at main (src/cli/main.ts:3:1)`;
    assert.equal(
      formatErrorBanner(error, { color: false }),
      `Error: layer index out of range
    at writeLayer (src/core/bundle/writer.ts:10:5)
    at main (src/cli/main.ts:3:1)

This is a bug in lading; please report it with the output above.`,
    );
  });

  it('treats anything else thrown as a bug too', () => {
    assert.equal(
      formatErrorBanner('socket hang up', { color: false }),
      `Error: socket hang up

This is a bug in lading; please report it with the output above.`,
    );
  });

  it('prints unframed, unwrapped lines for logs and pipes', () => {
    const long = 'registry.example.com/team/app:1.0: the registry requires authentication and no credentials were found';
    assert.equal(
      formatErrorBanner(new AbortError(long, { hint: 'Run docker login registry.example.com.' }), { color: false, framed: false }),
      `Error: ${long}\nNext: Run docker login registry.example.com.`,
    );
  });
});
