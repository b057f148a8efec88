import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basename, dirname, resolve } from 'node:path';
import { defaultBundleFileName } from './create-job.js';

test('the default output name is one file in the working directory, whatever the spec says', () => {
  assert.equal(defaultBundleFileName('site', '1.2.0'), 'site-1.2.0.lading.tar');
  const hostile: Array<[string, string]> = [
    ['../../etc/cron.d/x', '1'],
    ['..', '..'],
    ['/abs', '/'],
    ['a\u001b[2Jb', '1\n2'],
    ['.hidden', '-rf'],
    ['x'.repeat(5000), 'y'.repeat(5000)],
    ['', ''],
    ['name\\..\\win', '1'],
  ];
  for (const [name, version] of hostile) {
    const file = defaultBundleFileName(name, version);
    assert.equal(basename(file), file, file);
    assert.equal(dirname(resolve(file)), process.cwd(), file);
    assert.match(file, /^[A-Za-z0-9_+~][A-Za-z0-9._+~-]*\.lading\.tar$/, file);
    assert.doesNotMatch(file.slice(0, -'.lading.tar'.length), /\.\./, file);
    assert.ok(file.length <= 220, `${file.length} characters`);
  }
});
