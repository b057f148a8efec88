import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { BulkStreams } from './bulk-streams.js';
import { ReceiverUnavailable, type Receiver } from './receiver.js';

const receiver: Receiver = { run: async () => ({ exitCode: 0, message: '', stdout: '', stderr: '' }), close: async () => undefined };

describe('BulkStreams: the receiver, or exec and why', () => {
  test('proxy: the receiver is started once, on the first bulk stream', async () => {
    let starts = 0;
    const streams = new BulkStreams('proxy', async () => {
      starts++;
      return receiver;
    });
    assert.equal(streams.used, undefined, 'nothing chosen before a stream');
    assert.equal(await streams.receiver(), receiver);
    assert.equal(await streams.receiver(), receiver);
    assert.equal(starts, 1);
    assert.deepEqual(streams.used, { transport: 'pods/proxy' });
  });

  test('proxy: a receiver the API server cannot reach means exec, with the reason', async () => {
    const streams = new BulkStreams('proxy', async () => {
      throw new ReceiverUnavailable('the API server did not reach it through pods/proxy within 10 s (HTTP 503)');
    });
    assert.equal(await streams.receiver(), undefined);
    assert.deepEqual(streams.used, { transport: 'exec', reason: 'the receiver: the API server did not reach it through pods/proxy within 10 s (HTTP 503)' });
  });

  test('proxy: any other failure to start it means exec too, unless the run was interrupted', async () => {
    const failing = () => Promise.reject(new Error('exec refused'));
    const streams = new BulkStreams('proxy', failing);
    assert.equal(await streams.receiver(), undefined);
    assert.deepEqual(streams.used, { transport: 'exec', reason: 'the receiver: it could not be started: exec refused' });

    const interrupted = new AbortController();
    interrupted.abort(new Error('interrupted'));
    await assert.rejects(new BulkStreams('proxy', failing, interrupted.signal).receiver(), /exec refused/);
  });

  test('prepare starts the receiver at once; the first stream gets that same start', async () => {
    let starts = 0;
    let release!: () => void;
    const streams = new BulkStreams('proxy', async () => {
      starts++;
      await new Promise<void>((resolve) => (release = resolve));
      return receiver;
    });
    streams.prepare();
    assert.equal(starts, 1, 'started before any stream asked');
    const first = streams.receiver();
    release();
    assert.equal(await first, receiver);
    assert.equal(starts, 1);
  });

  test('prepare: a start that fails after an interruption is no unhandled rejection, and the stream still sees it', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const interrupted = new AbortController();
      interrupted.abort(new Error('interrupted'));
      const streams = new BulkStreams('proxy', () => Promise.reject(new Error('exec refused')), interrupted.signal);
      streams.prepare();
      await new Promise((resolve) => setImmediate(resolve));
      assert.deepEqual(unhandled, []);
      await assert.rejects(streams.receiver(), /exec refused/);
      await streams.close();
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  test('exec: the receiver is never tried', async () => {
    const streams = new BulkStreams('exec', () => assert.fail('started'));
    assert.equal(await streams.receiver(), undefined);
    assert.deepEqual(streams.used, { transport: 'exec', reason: '--transport exec' });
  });

  test('close stops a started receiver, and is harmless otherwise', async () => {
    let closed = 0;
    const streams = new BulkStreams('proxy', async () => ({ ...receiver, close: async () => void closed++ }));
    await streams.close();
    assert.equal(closed, 0);
    await streams.receiver();
    await streams.close();
    assert.equal(closed, 1);
  });
});
