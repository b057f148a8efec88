/** Mounts lading's Ink views on the streams the command hands over. */
import { createElement } from 'react';
import { render } from 'ink';
import type { TaskStore } from './store.js';
import { CreateScreen } from './screens/CreateScreen.js';
import { ConfirmScreen, type Answer } from './screens/ConfirmScreen.js';

export interface RenderCreateOptions {
  store: TaskStore;
  stdout: NodeJS.WriteStream;
  stdin: NodeJS.ReadStream;
  stderr?: NodeJS.WriteStream;
}

export interface RenderedView {
  /** Renders the last frame and stops; safe to call more than once. */
  unmount(): void;
  /** Resolves once the view is unmounted and its output written. */
  waitUntilExit(): Promise<void>;
  /** Erases the live area (not what <Static> already printed). */
  clear(): void;
}

export function renderCreate(options: RenderCreateOptions): RenderedView {
  const instance = render(createElement(CreateScreen, { store: options.store }), {
    stdout: options.stdout,
    stdin: options.stdin,
    ...(options.stderr ? { stderr: options.stderr } : {}),
    // The CLI owns SIGINT and unmounts the view itself.
    exitOnCtrlC: false,
    // Patching would replace the global console; core does not log to it anyway.
    patchConsole: false,
  });
  return {
    unmount: () => instance.unmount(),
    waitUntilExit: async () => {
      await instance.waitUntilExit();
    },
    clear: () => instance.clear(),
  };
}

/** Shows the lines and asks; resolves once a key answered and the view is gone. */
export async function askInView(options: { lines: string[]; question: string; stdout: NodeJS.WriteStream; stdin: NodeJS.ReadStream; stderr?: NodeJS.WriteStream }): Promise<Answer> {
  let answered!: (answer: Answer) => void;
  const answer = new Promise<Answer>((resolve) => (answered = resolve));
  const instance = render(createElement(ConfirmScreen, { lines: options.lines, question: options.question, onAnswer: answered }), {
    stdout: options.stdout,
    stdin: options.stdin,
    ...(options.stderr ? { stderr: options.stderr } : {}),
    exitOnCtrlC: false,
    patchConsole: false,
  });
  try {
    return await answer;
  } finally {
    // The answer is drawn before the view gives the terminal back.
    await new Promise((r) => setTimeout(r, 20));
    instance.unmount();
    await instance.waitUntilExit().catch(() => undefined);
  }
}
