import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cleanup, render } from 'ink-testing-library';
import { nextRender, plain } from '../test-helpers.js';
import { ConfirmScreen, type Answer } from './ConfirmScreen.js';

function ask(): { answers: Answer[]; frame: () => string; press: (keys: string) => Promise<void> } {
  const answers: Answer[] = [];
  const view = render(<ConfirmScreen lines={['Plan:', '  node-a: inject 2 images']} question="Install on 1 node(s)?" onAnswer={(a) => answers.push(a)} />);
  return {
    answers,
    frame: () => plain(view.lastFrame()),
    press: async (keys) => {
      await nextRender();
      view.stdin.write(keys);
      await nextRender();
    },
  };
}

describe('ConfirmScreen', () => {
  afterEach(cleanup);

  it('shows the plan and the question, and takes y as yes', async () => {
    const view = ask();
    assert.equal(view.frame(), 'Plan:\n  node-a: inject 2 images\nInstall on 1 node(s)? [y/N]');
    await view.press('y');
    assert.deepEqual(view.answers, ['yes']);
    assert.equal(view.frame().split('\n').at(-1), 'Install on 1 node(s)? [y/N] yes');
  });

  it('takes Enter as the default, no, and answers only once', async () => {
    const view = ask();
    await view.press('\r');
    await view.press('y');
    assert.deepEqual(view.answers, ['no']);
    assert.match(view.frame(), /\[y\/N\] no$/);
  });

  it('ignores other keys, and passes Ctrl-C on as an interruption', async () => {
    const view = ask();
    await view.press('x');
    assert.deepEqual(view.answers, []);
    await view.press('\x03');
    assert.deepEqual(view.answers, ['interrupted']);
  });
});
