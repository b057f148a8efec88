import { Text, useAnimation } from 'ink';

const FRAMES = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

export function Spinner({ color = 'cyan' }: { color?: string }) {
  // Ink shares one timer between all animations, however many rows spin.
  const { frame } = useAnimation({ interval: 80 });
  return <Text color={color}>{FRAMES[frame % FRAMES.length]}</Text>;
}
