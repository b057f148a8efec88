import { Box, Text } from 'ink';

export interface ErrorBannerProps {
  message: string;
  hint?: string | undefined;
}

export function ErrorBanner({ message, hint }: ErrorBannerProps) {
  return (
    <Box flexDirection="column" borderStyle="round" borderColor="red" paddingX={1} marginTop={1} alignSelf="flex-start">
      <Text color="red" bold>
        Error
      </Text>
      <Text>{message}</Text>
      {hint ? (
        <Box marginTop={1}>
          <Text>
            <Text bold>Next:</Text> {hint}
          </Text>
        </Box>
      ) : null}
    </Box>
  );
}
