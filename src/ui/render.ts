/** Mounts the Ink view of `lading create` on the streams the command hands over. */
import { createElement } from 'react';
import { render } from 'ink';
import type { TaskStore } from './store.js';
import { CreateScreen } from './screens/CreateScreen.js';

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
