/**
 * How long to wait before asking the API server again about something that
 * usually settles within a second (a pod starting, the kubelet's verdict):
 * 100 ms at first, then 1.5 times longer each round, at most 500 ms. A fixed
 * 500 ms cost up to half a second per wait on every node and every run.
 */
export function pollDelayMs(round: number): number {
  return Math.min(500, Math.round(100 * 1.5 ** Math.max(0, round)));
}
