import { useSyncExternalStore } from 'react';
import { Box } from 'ink';
import type { TaskStore } from '../store.js';
import { TaskList } from '../components/TaskList.js';
import { Summary } from '../components/Summary.js';
import { ErrorBanner } from '../components/ErrorBanner.js';

/** `lading create`: the task list, then the summary, or the error that ended the run. */
export function CreateScreen({ store }: { store: TaskStore }) {
  const state = useSyncExternalStore(store.subscribe, store.getSnapshot);
  return (
    <Box flexDirection="column">
      <TaskList tasks={state.tasks} />
      {state.summary ? <Summary summary={state.summary} /> : null}
      {state.error ? <ErrorBanner message={state.error.message} hint={state.error.hint} /> : null}
    </Box>
  );
}
