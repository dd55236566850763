import { describe, expect, it } from 'vitest';
import { helmFailure, render, renderCiCasesOnce, templateArgs, SCHEMA_ERROR } from '../helpers/helm.js';
import {
  ofKind,
  only,
  podSpecOf,
  serverContainer,
  type Manifest,
  type Workload,
} from '../helpers/manifests.js';

// The audit spill directory on a PersistentVolumeClaim (auditSpill.persistence), so rows spilled while Postgres
// is down outlive the pod. The server keeps one spill directory per process, so the claim serves one pod:
// replicaCount 1, no HPA, and rollouts with strategy Recreate.
const manifestsOf = renderCiCasesOnce();
const SPILL_DIR = '/var/lib/customer-intelligence/audit-spill';
const PERSISTENT = { 'auditSpill.persistence.enabled': 'true', replicaCount: '1' };

interface Claim extends Manifest {
  spec: { accessModes: string[]; storageClassName?: string; resources: { requests: { storage: string } } };
}

const spillVolume = (manifests: readonly Manifest[]) =>
  (podSpecOf(only(manifests, 'Deployment')).volumes as Array<Record<string, unknown>>).find(
    (v) => v.name === 'audit-spill',
  );
const strategyOf = (manifests: readonly Manifest[]) => only<Workload>(manifests, 'Deployment').spec.strategy;

describe('auditSpill.persistence', () => {
  it('is off by default: an emptyDir and rolling updates', () => {
    const manifests = manifestsOf('minimal');
    expect(spillVolume(manifests)).toEqual({ name: 'audit-spill', emptyDir: { sizeLimit: '320Mi' } });
    expect(ofKind(manifests, 'PersistentVolumeClaim')).toEqual([]);
    expect(strategyOf(manifests)).toMatchObject({ type: 'RollingUpdate' });
  });

  it('creates a claim kept on uninstall, mounts it at the spill directory and rolls out with Recreate', async () => {
    const manifests = await render({ set: PERSISTENT });
    const claim = only<Claim>(manifests, 'PersistentVolumeClaim');
    expect(claim.metadata.name).toBe('ci-customer-intelligence-audit-spill');
    expect(claim.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    expect(claim.spec).toEqual({
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '1Gi' } },
    });
    expect(spillVolume(manifests)).toEqual({
      name: 'audit-spill',
      persistentVolumeClaim: { claimName: 'ci-customer-intelligence-audit-spill' },
    });
    expect(serverContainer(manifests).volumeMounts).toContainEqual({
      name: 'audit-spill',
      mountPath: SPILL_DIR,
    });
    // The old pod must be gone before the new one opens the same directory.
    expect(strategyOf(manifests)).toEqual({ type: 'Recreate' });
    expect(only(manifests, 'ConfigMap').data).toMatchObject({ AUDIT_SPILL_DIR: SPILL_DIR });
  });

  it.each([
    ['fast-ssd', { storageClassName: 'fast-ssd' }],
    ['-', { storageClassName: '' }],
  ])('storageClass %j', async (storageClass, expected) => {
    const manifests = await render({
      set: { ...PERSISTENT, 'auditSpill.persistence.storageClass': storageClass },
    });
    expect(only<Claim>(manifests, 'PersistentVolumeClaim').spec).toMatchObject(expected);
  });

  it('mounts an existing claim without creating one', async () => {
    const manifests = await render({
      set: { ...PERSISTENT, 'auditSpill.persistence.existingClaim': 'spill-nfs' },
    });
    expect(ofKind(manifests, 'PersistentVolumeClaim')).toEqual([]);
    expect(spillVolume(manifests)).toEqual({
      name: 'audit-spill',
      persistentVolumeClaim: { claimName: 'spill-nfs' },
    });
  });

  it.each([
    [
      'more than one replica',
      { 'auditSpill.persistence.enabled': 'true' },
      'auditSpill.persistence.enabled needs replicaCount 1 (it is 2)',
    ],
    [
      'the HPA',
      { ...PERSISTENT, 'autoscaling.enabled': 'true' },
      'auditSpill.persistence.enabled needs one server pod, but autoscaling.enabled may run several',
    ],
    [
      'the spill off',
      { ...PERSISTENT, 'auditSpill.enabled': 'false' },
      'auditSpill.persistence.enabled needs auditSpill.enabled',
    ],
  ])('refuses a claim with %s, naming the values', async (_name, set, message) => {
    const stderr = await helmFailure(templateArgs({ set }));
    expect(stderr).toContain('invalid values:');
    expect(stderr).toContain(message);
  });

  it.each([
    [
      'a read-only access mode',
      { 'auditSpill.persistence.accessModes[0]': 'ReadOnlyMany' },
      '/auditSpill/persistence/accessModes/0',
    ],
    [
      'a size that is not a quantity',
      { 'auditSpill.persistence.size': 'big' },
      '/auditSpill/persistence/size',
    ],
    ['a misspelt key', { 'auditSpill.persistence.storageClassName': 'ssd' }, '/auditSpill/persistence'],
  ])('the schema refuses %s', async (_name, set, message) => {
    const stderr = await helmFailure(templateArgs({ set: { ...PERSISTENT, ...set } }));
    expect(stderr).toContain(SCHEMA_ERROR);
    expect(stderr).toContain(message);
  });
});

describe('ci/extension-points-values.yaml', () => {
  it('renders the claim with its class, access mode, size and annotations, so kubeconform checks it', () => {
    const manifests = manifestsOf('extension-points');
    const claim = only<Claim>(manifests, 'PersistentVolumeClaim');
    expect(claim.spec).toEqual({
      accessModes: ['ReadWriteOncePod'],
      storageClassName: 'fast-ssd',
      resources: { requests: { storage: '2Gi' } },
    });
    expect(claim.metadata.annotations).toMatchObject({
      'helm.sh/resource-policy': 'keep',
      'example.com/backup': 'false',
    });
    expect(strategyOf(manifests)).toEqual({ type: 'Recreate' });
  });
});
