import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, render } from 'ink-testing-library';
import { plain } from '../test-helpers.js';
import { ErrorBanner } from './ErrorBanner.js';

describe('ErrorBanner', () => {
  afterEach(cleanup);

  it('frames the message and the next step', () => {
    const { lastFrame } = render(
      <ErrorBanner message="registry.example.com refused our credentials" hint="run docker login registry.example.com" />,
    );
    assert.equal(
      plain(lastFrame()),
      `
╭──────────────────────────────────────────────╮
│ Error                                        │
│ registry.example.com refused our credentials │
│                                              │
│ Next: run docker login registry.example.com  │
╰──────────────────────────────────────────────╯`,
    );
  });

  it('leaves out the next step when there is none', () => {
    const { lastFrame } = render(<ErrorBanner message="disk full" />);
    assert.equal(
      plain(lastFrame()),
      `
╭───────────╮
│ Error     │
│ disk full │
╰───────────╯`,
    );
  });
});
