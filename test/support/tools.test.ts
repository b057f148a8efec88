import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { MissingToolError, findTool, requireTool } from './tools.js';

describe('requireTool', () => {
  it('returns the absolute path of a tool on PATH', () => {
    const sh = requireTool('sh');
    assert.ok(path.isAbsolute(sh));
    assert.equal(findTool('sh'), sh);
  });

  it('throws with install instructions when a tool is missing', () => {
    assert.throws(
      () => requireTool('lading-no-such-tool', 'install it with `apt-get install lading-no-such-tool`'),
      (err: Error) => {
        assert.ok(err instanceof MissingToolError);
        assert.equal(err.message, 'lading-no-such-tool not found on PATH: install it with `apt-get install lading-no-such-tool`');
        return true;
      },
    );
  });

  it('knows the Debian package of the tools we use', () => {
    const saved = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      assert.throws(() => requireTool('skopeo'), {
        message: 'skopeo not found on PATH: install it with `apt-get install skopeo` (or run `bash scripts/install-test-deps`)',
      });
      assert.throws(() => requireTool('htpasswd'), /apt-get install apache2-utils/);
    } finally {
      process.env.PATH = saved;
    }
  });

  for (const tool of ['docker-registry', 'skopeo', 'umoci', 'htpasswd', 'openssl']) {
    it(`finds ${tool} (needed by the registry and image tests)`, () => {
      assert.ok(path.isAbsolute(requireTool(tool)));
    });
  }
});
