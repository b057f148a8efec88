import { Box, Static, Text } from 'ink';
import { formatBytes } from '../../core/progress.js';
import type { TaskRow, TaskState } from '../store.js';
import { ProgressRow } from './ProgressRow.js';
import { Spinner } from './Spinner.js';

/**
 * Top-level rows that will not change any more, counted from the top. Only this
 * prefix goes into <Static>, which prints each item once and must only ever be
 * appended to: a row that finishes before an earlier one waits in the live area
 * until every row above it is done, so the printed order is the task order.
 */
export function settledCount(tasks: readonly TaskRow[]): number {
  let count = 0;
  while (count < tasks.length && (tasks[count]!.final || tasks[count]!.disabled)) count++;
  return count;
}

export function TaskList({ tasks }: { tasks: readonly TaskRow[] }) {
  const settled = settledCount(tasks);
  return (
    <>
      <Static items={tasks.slice(0, settled)}>
        {(row) => (
          <Box key={row.id} flexDirection="column">
            <TaskTree row={row} />
          </Box>
        )}
      </Static>
      <Box flexDirection="column">
        {tasks.slice(settled).map((row) => (
          <TaskTree key={row.id} row={row} />
        ))}
      </Box>
    </>
  );
}

function TaskTree({ row }: { row: TaskRow }) {
  if (row.disabled) return null;
  const children = row.children.map((child) => <TaskTree key={child.id} row={child} />);
  // Background tasks (no title) are invisible; their subtasks show in their place.
  if (!row.title) return <>{children}</>;
  return (
    <Box flexDirection="column">
      <Box>
        <Box flexShrink={0} marginRight={1}>
          <StateSymbol state={row.state} />
        </Box>
        {row.progress && isActive(row.state) ? (
          <ProgressRow title={row.title} progress={row.progress} />
        ) : (
          <Text>
            {row.title}
            <Text dimColor>{suffix(row)}</Text>
          </Text>
        )}
      </Box>
      <Details row={row} />
      {showChildren(row) && children.length > 0 ? (
        <Box flexDirection="column" marginLeft={2}>
          {children}
        </Box>
      ) : null}
    </Box>
  );
}

function Details({ row }: { row: TaskRow }) {
  const line = row.error ?? (row.state === 'skipped' ? row.skipReason : isActive(row.state) ? row.output : undefined);
  if (!line) return null;
  return (
    <Box marginLeft={2}>
      <Text color={row.error ? 'red' : undefined} dimColor={!row.error}>
        → {line}
      </Text>
    </Box>
  );
}

const SYMBOLS: Partial<Record<TaskState, { symbol: string; color: string }>> = {
  pending: { symbol: '◻', color: 'gray' },
  completed: { symbol: '✔', color: 'green' },
  failed: { symbol: '✖', color: 'red' },
  skipped: { symbol: '↓', color: 'yellow' },
  retrying: { symbol: '↻', color: 'yellow' },
  paused: { symbol: '↻', color: 'yellow' },
  'rolled-back': { symbol: '↺', color: 'red' },
  cancelled: { symbol: '✖', color: 'yellow' },
};

function StateSymbol({ state }: { state: TaskState }) {
  const known = SYMBOLS[state];
  if (!known) return <Spinner color={state === 'rolling-back' ? 'red' : 'cyan'} />;
  return <Text color={known.color}>{known.symbol}</Text>;
}

function isActive(state: TaskState): boolean {
  return state === 'running' || state === 'retrying' || state === 'paused';
}

function suffix(row: TaskRow): string {
  switch (row.state) {
    case 'retrying':
    case 'paused':
      return row.retries ? ` (retry ${row.retries})` : ' (retrying)';
    case 'rolling-back':
      return ' (rolling back)';
    case 'rolled-back':
      return ' (rolled back)';
    case 'cancelled':
      return ' (cancelled)';
    case 'completed':
      return row.progress ? ` (${formatBytes(row.progress.total)})` : '';
    default:
      return '';
  }
}

/** A completed parent folds its subtasks away, unless one of them failed. */
function showChildren(row: TaskRow): boolean {
  return row.state !== 'completed' || row.children.some(hasFailure);
}

function hasFailure(row: TaskRow): boolean {
  return row.state === 'failed' || row.children.some(hasFailure);
}
