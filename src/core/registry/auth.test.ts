import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { authSecret, basicAuth, newCredentials } from './auth.js';

describe('the in-cluster registry\'s credentials', () => {
  it('are random each time, and the Secret holds the htpasswd line (bcrypt), the pull and the push credentials', () => {
    const a = newCredentials();
    const b = newCredentials();
    assert.notEqual(a.password, b.password);
    assert.notEqual(a.pushToken, b.pushToken);
    assert.ok(a.password.length >= 32 && a.pushToken.length >= 43);
    const secret = authSecret('lading-system', a);
    const data = secret.stringData!;
    const [user, hash] = data['htpasswd']!.trim().split(':');
    assert.equal(user, 'lading');
    assert.match(hash!, /^\$2[aby]\$10\$/);
    assert.ok(bcrypt.compareSync(a.password, hash!));
    assert.equal(data['registry-credentials'], `lading:${a.password}`);
    assert.equal(data['push-token'], a.pushToken);
    assert.equal(basicAuth(a), `Basic ${Buffer.from(`lading:${a.password}`).toString('base64')}`);
  });
});
