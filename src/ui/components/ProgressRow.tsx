import { Box, Text } from 'ink';
import type { ByteProgress } from '../../core/progress.js';
import { BAR_WIDTH, progressBar, progressStats } from '../progress-format.js';

export interface ProgressRowProps {
  title: string;
  progress: ByteProgress;
  barWidth?: number;
}

/** One line: the title (truncated, never wrapped) then a fixed-width bar and the numbers. */
export function ProgressRow({ title, progress, barWidth = BAR_WIDTH }: ProgressRowProps) {
  return (
    <Box flexDirection="row">
      <Box flexShrink={1}>
        <Text wrap="truncate-middle">{title}</Text>
      </Box>
      <Box flexShrink={0} marginLeft={2}>
        <Text>
          <Text color="cyan">{progressBar(progress, barWidth)}</Text> {progressStats(progress)}
        </Text>
      </Box>
    </Box>
  );
}
