import { Box, Text, useStdout } from 'ink';
import type { CreateSummary } from '../../core/bundle/summary.js';
import { imageSummaryLines, summaryLines } from '../summary-lines.js';

export function Summary({ summary }: { summary: CreateSummary }) {
  const lines = summaryLines(summary);
  const width = Math.max(...lines.map((line) => line.label.length));
  // Two columns of indent; the lines fit the terminal when they can.
  const { stdout } = useStdout();
  const images = imageSummaryLines(summary, ((stdout as NodeJS.WriteStream).columns || 80) - 2);
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
      {images.length > 0 ? (
        <Box flexDirection="column" marginTop={1}>
          {images.map((line, i) => (
            <Text key={i}>
              {'  '}
              {line}
            </Text>
          ))}
        </Box>
      ) : null}
    </Box>
  );
}
