import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { receiverAnswer } from './receiver.js';

describe('the receiver\'s answer', () => {
  test('exit code and output are taken only from an answer of the receiver\'s shape', () => {
    assert.deepEqual(receiverAnswer('{"exitCode":3,"stdout":"unpacking\\n","stderr":"no space"}'), { exitCode: 3, stdout: 'unpacking\n', stderr: 'no space' });
    for (const text of ['<html>503</html>', '', '{"exitCode":"0","stdout":"","stderr":""}', '{"exitCode":1.5,"stdout":"","stderr":""}', '{"exitCode":0,"stdout":null,"stderr":""}', '[]', 'null']) {
      assert.equal(receiverAnswer(text), undefined, text);
    }
  });
});
