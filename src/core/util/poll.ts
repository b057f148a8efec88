/**
 * How long to wait before asking the API server again about something that
 * usually settles within a second or two (a pod starting, the kubelet's verdict):
 * 100 ms at first, then 1.5 times longer each round, at most 250 ms. A fixed
 * 500 ms cost up to half a second per wait on every node and every run. With
 * a 500 ms cap the reads fall at 0.1, 0.25, 0.48, 0.81 and 1.31 s, so a pod
 * Running at 0.9 s (an agent's usual start) was seen 0.4 s late. A read of one
 * pod costs the API server little: four a second per waiting node.
 */
export function pollDelayMs(round: number): number {
  return Math.min(250, Math.round(100 * 1.5 ** Math.max(0, round)));
}
