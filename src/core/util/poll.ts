/**
 * How long to wait before asking the API server again about something that
 * usually settles within a second or two (a pod starting, the kubelet's verdict):
 * 100 ms at first, then 1.5 times longer each round, at most 250 ms. A fixed
 * 500 ms cost up to half a second per wait on every node and every run; a
 * 500 ms cap still found an agent pod that was Running at 0.9 s only at 1.3 s.
 * A read of one pod costs the API server little: four a second per waiting node.
 */
export function pollDelayMs(round: number): number {
  return Math.min(250, Math.round(100 * 1.5 ** Math.max(0, round)));
}
