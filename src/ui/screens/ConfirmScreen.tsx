import { useState } from 'react';
import { Box, Text, useInput } from 'ink';

export type Answer = 'yes' | 'no' | 'interrupted';

export interface ConfirmScreenProps {
  /** What the operator is asked to agree to (the plan), one line each. */
  lines: string[];
  question: string;
  onAnswer: (answer: Answer) => void;
}

/**
 * A plan and a yes/no question, answered with one key. Anything but y is no
 * (the default, as [y/N] says); Ctrl-C arrives as a key while Ink holds the
 * terminal in raw mode, so it is passed on as an interruption.
 */
export function ConfirmScreen({ lines, question, onAnswer }: ConfirmScreenProps) {
  const [answer, setAnswer] = useState<Answer | undefined>(undefined);
  useInput(
    (input, key) => {
      // A key typed before the terminal went raw arrives with its line end: the first letter decides.
      const letter = input.slice(0, 1).toLowerCase();
      const given: Answer | undefined =
        key.ctrl && letter === 'c' ? 'interrupted' : letter === 'y' ? 'yes' : letter === 'n' || key.return || key.escape ? 'no' : undefined;
      if (!given) return;
      setAnswer(given);
      onAnswer(given);
    },
    { isActive: answer === undefined },
  );
  return (
    <Box flexDirection="column">
      {lines.map((line, index) => (
        <Text key={index}>{line}</Text>
      ))}
      <Text>
        <Text bold>{question}</Text> [y/N]{' '}
        {answer === undefined ? null : <Text color={answer === 'yes' ? 'green' : 'yellow'}>{answer === 'yes' ? 'yes' : 'no'}</Text>}
      </Text>
    </Box>
  );
}
