import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AbortError } from '../errors.js';
import { crioAuthTarget } from '../install/crio-driver.js';
import { crioSettings } from '../runtimes/runtime-config.js';
import { CRIO_AUTH_DROP_IN, CRIO_AUTH_FILE, crioAuthDropIn, mergeAuthJson } from './auth-json.js';

const basic = (s: string) => `Basic ${Buffer.from(s).toString('base64')}`;
const wanted = new Map([['10.0.0.5:5000', basic('lading:pw')]]);

describe('CRI-O pull credentials for the in-cluster registry', () => {
  it('adds an entry per host, keeps everything else, and says when nothing changes', () => {
    const fresh = mergeAuthJson(undefined, wanted, 'f')!;
    assert.deepEqual(JSON.parse(fresh), { auths: { '10.0.0.5:5000': { auth: Buffer.from('lading:pw').toString('base64') } } });
    assert.equal(mergeAuthJson(fresh, wanted, 'f'), undefined, 'a second run writes nothing');
    const theirs = JSON.stringify({ auths: { 'quay.io': { auth: 'eDp5' }, '10.0.0.5:5000': { auth: 'b2xk', email: 'kept' } }, credHelpers: { 'gcr.io': 'gcloud' } });
    const merged = JSON.parse(mergeAuthJson(theirs, wanted, 'f')!);
    assert.deepEqual(merged.auths['quay.io'], { auth: 'eDp5' });
    assert.deepEqual(merged.auths['10.0.0.5:5000'], { auth: Buffer.from('lading:pw').toString('base64'), email: 'kept' });
    assert.deepEqual(merged.credHelpers, { 'gcr.io': 'gcloud' });
    assert.ok(mergeAuthJson('   ', wanted, 'f'), 'an empty file is a new one');
  });

  it('never overwrites a file that is not an auth.json', () => {
    for (const bad of ['not json', '[]', '"x"', '{"auths": []}', '{"auths": "x"}', 'null']) {
      assert.throws(() => mergeAuthJson(bad, wanted, 'node:/etc/crio/auth.json'), (e: unknown) => e instanceof AbortError && /node:\/etc\/crio\/auth\.json is not an auth\.json/.test(e.message), bad);
    }
  });

  it('uses the file CRI-O already reads, else its own with a drop-in; refuses a file --restore could not put back', () => {
    assert.deepEqual(crioAuthTarget('n', undefined), { file: CRIO_AUTH_FILE, dropIn: crioAuthDropIn() });
    assert.match(crioAuthDropIn(), /^\[crio\.image\]\nglobal_auth_file = "\/etc\/crio\/lading-auth\.json"$/m);
    const named = (file: string, path = '/etc/crio/crio.conf.d/10-site.conf') => crioSettings([{ path, text: `[crio.image]\nglobal_auth_file = "${file}"\n` }]);
    assert.deepEqual(crioAuthTarget('n', named('/etc/crio/auth.json')), { file: '/etc/crio/auth.json' });
    assert.deepEqual(crioAuthTarget('n', named(CRIO_AUTH_FILE, CRIO_AUTH_DROP_IN)), { file: CRIO_AUTH_FILE, dropIn: crioAuthDropIn() }, 'its own drop-in is kept up to date');
    assert.deepEqual(crioAuthTarget('n', named('')), { file: CRIO_AUTH_FILE, dropIn: crioAuthDropIn() }, 'an empty global_auth_file is none');
    assert.throws(() => crioAuthTarget('n', named('/root/auth.json')), (e: unknown) => e instanceof AbortError && /\/root\/auth\.json .*outside \/etc\/crio and \/etc\/containers/.test(e.message));
  });
});
