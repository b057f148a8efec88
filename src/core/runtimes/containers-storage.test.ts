/**
 * Which images go into lading's store from one archive unpacked on the node, and which from an archive
 * of their own: the choice loadScript makes (the real podman and skopeo run them in
 * test/integration/containers-storage.test.ts and on the test cluster's CRI-O node).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BugError } from '../errors.js';
import { loadScript, loadsUnpacked, type ContainersStore } from './containers-storage.js';

const store = (over: Partial<ContainersStore> = {}): ContainersStore => ({
  root: '/var/lib/lading/images',
  runroot: '/run/lading/var-lib-lading-images',
  driver: 'overlay',
  tool: { kind: 'podman', path: '/usr/bin/podman' },
  tar: true,
  storageConf: '/etc/containers/storage.conf',
  defaultRoot: '/var/lib/containers/storage',
  ...over,
});
const skopeo = { kind: 'skopeo' as const, path: '/usr/bin/skopeo' };
const digestNamed = `registry.example/app@sha256:${'a'.repeat(64)}`;

describe('loadsUnpacked', () => {
  it('podman with tar, a lowercase store path and a tagged name: yes', () => {
    assert.equal(loadsUnpacked(store(), 'registry.example:5000/team/app:1.2'), true);
  });

  it('without tar on the host: never', () => {
    assert.equal(loadsUnpacked(store({ tar: false }), 'registry.example/app:1'), false);
    assert.equal(loadsUnpacked(store({ tar: false, tool: skopeo }), 'registry.example/app:1'), false);
  });

  it('podman cannot name an image after a path with capitals, nor rename one named by digest', () => {
    assert.equal(loadsUnpacked(store({ root: '/data/Images/store' }), 'registry.example/app:1'), false);
    assert.equal(loadsUnpacked(store({ root: '/data/.hidden/store' }), 'registry.example/app:1'), false, 'a component must start with a letter or digit');
    assert.equal(loadsUnpacked(store(), digestNamed), false);
  });

  it('skopeo is told the name: any name, but not a path with a colon (oci: ends the path at the first one)', () => {
    assert.equal(loadsUnpacked(store({ tool: skopeo }), digestNamed), true);
    assert.equal(loadsUnpacked(store({ tool: skopeo, root: '/data/Images/store' }), 'registry.example/app:1'), true);
    assert.equal(loadsUnpacked(store({ tool: skopeo, root: '/data/a:b/store' }), 'registry.example/app:1'), false);
  });
});

describe('loadScript', () => {
  it('unpacks as the archive arrives and takes each image when tar reaches its marker, renamed; the path\'s name comes off also on failure', () => {
    const script = loadScript(store(), ['registry.example/a:1', 'registry.example/b:2'], '00ff');
    assert.match(script, /^dir='\/var\/lib\/lading\/lading-load-00ff'$/m, 'beside the store, fresh');
    assert.match(script, /^\{ tar -x -v -f - -C "\$dir\/layout" 2>&1; echo "lading-tar-exit \$\?"; \} \| \{$/m, 'tar names each entry as it reaches it, and its status comes last');
    assert.match(script, /^ {4}0\) store_podman pull --quiet 'oci:\/var\/lib\/lading\/lading-load-00ff\/layout:registry\.example\/a:1' >\/dev\/null && store_podman tag "\$loaded" 'registry\.example\/a:1' && store_podman untag "\$loaded" "\$loaded" ;;$/m);
    assert.match(script, /^ {4}1\) store_podman pull --quiet 'oci:[^']*:registry\.example\/b:2'/m);
    assert.match(script, /^ {6}lading-ready-\*\|"x lading-ready-"\*\) take "\$\{line##\*lading-ready-\}" \|\| exit \$\?; taken=/m);
    assert.match(script, /'lading-tar-exit 0'\) \[ "\$taken" -eq 2 \] && exit 0; echo "the archive ended after \$taken of 2 images"/, 'every image taken, or the load fails');
    assert.match(script, /^loaded='localhost\/var\/lib\/lading\/lading-load-00ff\/layout:latest'$/m);
    assert.match(script, /^trap 'store_podman untag "\$loaded" "\$loaded" >\/dev\/null 2>&1; rm -rf "\$dir"' EXIT$/m);
    assert.doesNotMatch(script, /podman load/);
  });

  it('skopeo copies each image under its name when its marker comes', () => {
    const script = loadScript(store({ tool: skopeo }), [digestNamed], '00ff');
    assert.match(script, /^ {4}0\) '\/usr\/bin\/skopeo' copy --quiet 'oci:\/var\/lib\/lading\/lading-load-00ff\/layout:registry\.example\/app@sha256:a{64}' 'containers-storage:\[overlay@\/var\/lib\/lading\/images\+\/run\/lading\/var-lib-lading-images\]registry\.example\/app@sha256:a{64}' ;;$/m);
    assert.doesNotMatch(script, /store_podman/);
  });

  it('an image podman cannot rename: its own archive through podman load, the copies beside the store', () => {
    const script = loadScript(store(), [digestNamed], '00ff');
    assert.match(script, /^TMPDIR="\$dir" store_podman load --quiet$/m);
    assert.doesNotMatch(script, /tar -x/);
  });

  it('several images in an archive that is not unpacked is a bug, not a load', () => {
    assert.throws(() => loadScript(store({ tar: false }), ['registry.example/a:1', 'registry.example/b:2'], '00ff'), BugError);
  });
});
