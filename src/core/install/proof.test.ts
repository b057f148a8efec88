import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type * as k8s from '@kubernetes/client-node';
import { containerEvents, containerVerdict } from './proof.js';

const event = (reason: string, message: string, container = 'i0') => ({ reason, message, involvedObject: { fieldPath: `spec.containers{${container}}` } }) as k8s.CoreV1Event;
const waiting = (reason: string, message = '') => ({ name: 'i0', state: { waiting: { reason, message } } }) as k8s.V1ContainerStatus;
const present = event('Pulled', 'Container image "example.com/data:1" already present on machine');

describe('containerVerdict: the kubelet\'s own signal, not the image\'s behaviour', () => {
  it('"already present on machine" proves it even when the container cannot be created (a data-only image)', () => {
    const noCommand = waiting('CreateContainerError', 'failed to generate container spec: no command specified');
    assert.deepEqual(containerVerdict(noCommand, [present, event('Failed', 'Error: failed to generate container spec: no command specified')]), {
      proof: 'kubelet event "already present on machine"',
    });
    const newer = event('Pulled', 'Container image "x:1" already present on machine and can be accessed by the pod');
    assert.ok('proof' in containerVerdict(undefined, [newer])!);
  });

  it('a started or exited container proves it when no pull was allowed; a crash is the image\'s business', () => {
    assert.deepEqual(containerVerdict({ name: 'i0', state: { running: {} } } as k8s.V1ContainerStatus, []), { proof: 'container started' });
    const crashed = { name: 'i0', state: { terminated: { exitCode: 139, reason: 'Error' } } } as k8s.V1ContainerStatus;
    assert.deepEqual(containerVerdict(crashed, []), { proof: 'container ran (exited 139, Error)' });
  });

  it('a pull seen anyway is no proof, even of a started container', () => {
    assert.match((containerVerdict({ name: 'i0', state: { running: {} } } as k8s.V1ContainerStatus, [event('Pulling', 'Pulling image "x@sha256:..."')]) as { failure: string }).failure, /^the kubelet pulled it \(Pulling: .*\): it was not on the node$/);
    assert.ok('failure' in containerVerdict(undefined, [event('Pulled', 'Successfully pulled image "x" in 1s')])!);
  });

  it('the kubelet not finding it is lading\'s failure; creating or still waiting is undecided', () => {
    assert.deepEqual(containerVerdict(waiting('ErrImageNeverPull', 'Container image "x:1" is not present with pull policy of Never'), []), {
      failure: 'ErrImageNeverPull: Container image "x:1" is not present with pull policy of Never',
    });
    assert.ok('failure' in containerVerdict(waiting('ImagePullBackOff'), [])!);
    assert.equal(containerVerdict(waiting('ContainerCreating'), []), undefined);
    assert.equal(containerVerdict(waiting('CreateContainerError', 'no command specified'), []), undefined, 'until the event arrives');
  });

  it('events are told apart by container', () => {
    const events = [present, event('Pulled', 'Container image "y" already present on machine', 'i1')];
    assert.deepEqual(containerEvents(events, 'i1').map((e) => e.message), ['Container image "y" already present on machine']);
  });
});
