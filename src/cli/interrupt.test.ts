import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { setTimeout as delay } from 'node:timers/promises';
import { onInterrupt } from './interrupt.js';
import { InterruptedError } from '../core/errors.js';

function fakeProcess() {
  const emitter = new EventEmitter();
  return { emitter, like: emitter as unknown as Pick<NodeJS.Process, 'on' | 'off'> };
}

describe('onInterrupt', () => {
  it('aborts on the first signal, and stops at once on the second', () => {
    const { emitter, like } = fakeProcess();
    const stops: [string, boolean][] = [];
    const interrupt = onInterrupt(like, { graceMs: 60_000, forceStop: (reason, ended) => stops.push([reason, ended]) });
    emitter.emit('SIGINT');
    assert.ok(interrupt.signal.aborted);
    assert.ok(interrupt.signal.reason instanceof InterruptedError);
    assert.deepEqual(stops, []);
    emitter.emit('SIGTERM');
    assert.deepEqual(stops, [['interrupted again', false]]);
    interrupt.dispose();
    assert.equal(emitter.listenerCount('SIGINT') + emitter.listenerCount('SIGTERM'), 0, 'listeners removed');
  });

  it('stops when cleanup overruns the grace period, and says whether the command had ended', async () => {
    const { emitter, like } = fakeProcess();
    const stops: [string, boolean][] = [];
    const interrupt = onInterrupt(like, { graceMs: 20, forceStop: (reason, ended) => stops.push([reason, ended]) });
    emitter.emit('SIGINT');
    await delay(60);
    assert.deepEqual(stops, [['cleanup still under way 0 s after the interrupt', false]]);
    interrupt.dispose();
    const second = onInterrupt(like, { graceMs: 20, forceStop: (reason, ended) => stops.push([reason, ended]) });
    emitter.emit('SIGINT');
    second.dispose();
    await delay(60);
    assert.deepEqual(stops.at(-1), ['cleanup still under way 0 s after the interrupt', true], 'a process kept alive after the command ended is stopped too');
  });

  it('does nothing without a signal', async () => {
    const { like } = fakeProcess();
    let stopped = false;
    const interrupt = onInterrupt(like, { graceMs: 10, forceStop: () => (stopped = true) });
    await delay(30);
    interrupt.dispose();
    assert.equal(stopped, false);
    assert.equal(interrupt.signal.aborted, false);
  });
});
