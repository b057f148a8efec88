import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AbortError, ExitCode } from '../errors.js';
import { NAMESPACE_LABELS, namespaceStep } from './namespace.js';

const ns = (labels: Record<string, string>, extra: Record<string, unknown> = {}) => ({ metadata: { labels, ...extra } });

test('a missing namespace is created with the PodSecurity labels and lading\'s mark', () => {
  assert.deepEqual(namespaceStep('lading-system', undefined), { action: 'create', labels: { ...NAMESPACE_LABELS } });
  assert.equal(NAMESPACE_LABELS['app.kubernetes.io/managed-by'], 'lading');
  assert.equal(NAMESPACE_LABELS['pod-security.kubernetes.io/enforce'], 'privileged');
});

test('lading\'s own namespace is used as it is, or relabelled when its labels were lost', () => {
  assert.deepEqual(namespaceStep('lading-system', ns({ ...NAMESPACE_LABELS })), { action: 'use' });
  assert.deepEqual(namespaceStep('lading-system', ns({ 'app.kubernetes.io/managed-by': 'lading', 'pod-security.kubernetes.io/enforce': 'baseline' })), {
    action: 'label',
    labels: { ...NAMESPACE_LABELS },
  });
});

test('someone else\'s namespace that admits privileged pods is used without any change', () => {
  assert.deepEqual(namespaceStep('default', ns({ 'kubernetes.io/metadata.name': 'default' })), { action: 'use' });
  assert.deepEqual(namespaceStep('tools', ns({ 'pod-security.kubernetes.io/enforce': 'privileged', 'pod-security.kubernetes.io/warn': 'restricted' })), { action: 'use' });
  assert.deepEqual(namespaceStep('bare', {}), { action: 'use' });
});

test('someone else\'s namespace whose enforce level refuses privileged pods is refused (exit 9), never relabelled', () => {
  for (const level of ['baseline', 'restricted', 'not-a-level']) {
    const step = namespaceStep('default', ns({ 'pod-security.kubernetes.io/enforce': level, 'app.kubernetes.io/managed-by': 'helm' }));
    assert.equal(step.action, 'refuse');
    const error = (step as { error: AbortError }).error;
    assert.equal(error.exitCode, ExitCode.permission);
    assert.match(error.message, new RegExp(`namespace default was not created by lading, and its label pod-security\\.kubernetes\\.io/enforce=${level} refuses lading's privileged agent pods`));
    assert.match(error.hint ?? '', /Leave out --namespace .*kubectl label namespace default pod-security\.kubernetes\.io\/enforce=privileged --overwrite/);
  }
});

test('a label value is shown escaped; a namespace being deleted is refused with a way out', () => {
  const step = namespaceStep('x', ns({ 'pod-security.kubernetes.io/enforce': 'restricted\n\u001b[31m' }));
  assert.doesNotMatch((step as { error: AbortError }).error.message, /[\u0000-\u001f]/);
  const gone = namespaceStep('lading-system', ns({ ...NAMESPACE_LABELS }, { deletionTimestamp: new Date() }));
  assert.equal(gone.action, 'refuse');
  assert.match((gone as { error: AbortError }).error.message, /is being deleted/);
});
