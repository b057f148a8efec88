import { test } from 'node:test';
import assert from 'node:assert/strict';
import { addAdditionalImageStore } from './storage-conf.js';

const ocne = `# OCNE storage configuration
[storage]
driver = "overlay"
runroot = "/run/containers/storage"
graphroot = "/var/lib/containers/storage"

[storage.options]
# OCK images live here; keep it.
additionalimagestores = [
  "/usr/ock/containers",
]
pull_options = {enable_partial_images = "false", use_hard_links = "false", ostree_repos=""}

[storage.options.overlay]
mountopt = "nodev,metacopy=on"
`;

test('adds the store in a multi-line array, keeping the other store, comments and keys', () => {
  const edit = addAdditionalImageStore(ocne, '/var/lib/lading/images');
  assert.equal(edit.changed, true);
  assert.equal(
    edit.text,
    ocne.replace('additionalimagestores = [\n', 'additionalimagestores = [\n  "/var/lib/lading/images",\n'),
  );
  assert.equal(addAdditionalImageStore(edit.text, '/var/lib/lading/images').changed, false, 'a second run changes nothing');
});

test('adds the key under an existing [storage.options] table', () => {
  const text = '[storage]\ndriver = "overlay"\n\n[storage.options]\nsize = ""\n';
  assert.equal(
    addAdditionalImageStore(text, '/s').text,
    '[storage]\ndriver = "overlay"\n\n[storage.options]\nadditionalimagestores = ["/s"]\nsize = ""\n',
  );
});

test('adds the table when there is none, and handles empty files and one-line arrays', () => {
  assert.equal(addAdditionalImageStore('[storage]\ndriver = "overlay"\n', '/s').text, '[storage]\ndriver = "overlay"\n\n[storage.options]\nadditionalimagestores = ["/s"]\n');
  assert.equal(addAdditionalImageStore('', '/s').text, '[storage.options]\nadditionalimagestores = ["/s"]\n');
  assert.equal(
    addAdditionalImageStore('[storage.options]\nadditionalimagestores = [] # none yet\n', '/s').text,
    '[storage.options]\nadditionalimagestores = ["/s"] # none yet\n',
  );
  assert.equal(
    addAdditionalImageStore('[storage.options]\nadditionalimagestores = ["/a", "/b"]\n', '/s').text,
    '[storage.options]\nadditionalimagestores = ["/s", "/a", "/b"]\n',
  );
});

test('refuses a file that is not TOML, naming it', () => {
  assert.throws(() => addAdditionalImageStore('[storage\n', '/s', '/etc/containers/storage.conf'), /\/etc\/containers\/storage\.conf is not valid TOML/);
});

test('refuses an edit it cannot prove safe (dotted keys defining the table elsewhere)', () => {
  const tricky = '[storage]\noptions.additionalimagestores = ["/a"]\n';
  // The store is not found as a [storage.options] table: appending one would redefine it, which TOML forbids.
  assert.throws(() => addAdditionalImageStore(tricky, '/s'), /could not add \/s|not valid TOML/);
});
