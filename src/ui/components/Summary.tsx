import { Box, Text } from 'ink';
import type { CreateSummary } from '../../core/bundle/summary.js';
import { summaryLines } from '../summary-lines.js';

export function Summary({ summary }: { summary: CreateSummary }) {
  const lines = summaryLines(summary);
  const width = Math.max(...lines.map((line) => line.label.length));
  return (
    <Box flexDirection="column" marginTop={1}>
      <Text color="green" bold>
        ✔ Bundle created
      </Text>
      {lines.map((line) => (
        <Text key={line.label}>
          {'  '}
          <Text dimColor>{line.label.padEnd(width)}</Text>
          {'  '}
          {line.value}
        </Text>
      ))}
    </Box>
  );
}
