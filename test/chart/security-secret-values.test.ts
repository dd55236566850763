import { describe, expect, it } from 'vitest';
import { render, renderText } from '../helpers/helm.js';
import { podSpecOf } from '../helpers/manifests.js';
import { volumesOf } from '../helpers/server-secrets.js';

// Values that name secrets (Secret names and keys): in the rendered objects they only ever appear as Secret
// references, never as contents.

describe('secret values', () => {
  // Every value that names a secret, set to a marker; a secret's *contents* are never a value of this chart.
  const MARKERS = {
    'database.existingSecret': 'marker-db-secret',
    'database.urlKey': 'marker-db-url-key',
    'database.readUrlKey': 'marker-db-read-key',
    'grpc.tls.mode': 'mtls',
    'grpc.tls.existingSecret': 'marker-tls-secret',
    'grpc.tls.clientCa.existingSecret': 'marker-client-ca-secret',
    'grpc.tls.clientCa.key': 'marker-client-ca-key',
    'auth.mode': 'required',
    'auth.apiKeys.enabled': 'true',
    'auth.apiKeys.existingSecret': 'marker-api-keys-secret',
    'auth.apiKeys.key': 'marker-api-keys-key',
    'auth.jwt.keySource': 'hs256Secret',
    'auth.jwt.hs256Secret.existingSecret': 'marker-jwt-secret',
    'auth.jwt.hs256Secret.key': 'marker-jwt-key',
    'auth.jwt.issuer': 'https://issuer.example.com/',
    'auth.jwt.audience': 'ci',
    'tests.tls.existingSecret': 'marker-test-secret',
    'tests.score.credential.existingSecret': 'marker-test-credential-secret',
    'tests.score.credential.key': 'marker-test-credential-key',
    'cronJobs.enabled': 'true',
    'cronJobs.database.existingSecret': 'marker-batch-db-secret',
    'cronJobs.database.urlKey': 'marker-batch-db-key',
    'cronJobs.scoring.credential.existingSecret': 'marker-batch-credential-secret',
    'cronJobs.scoring.credential.key': 'marker-batch-credential-key',
    'cronJobs.scoring.tls.existingSecret': 'marker-batch-tls-secret',
    'cronJobs.training.credential.existingSecret': 'marker-train-credential-secret',
    'cronJobs.training.credential.key': 'marker-train-credential-key',
    'cronJobs.training.tls.existingSecret': 'marker-train-tls-secret',
  };

  it('only ever appear as Secret references, never in a ConfigMap or in plain env values', async () => {
    const manifests = await render({ set: MARKERS });
    const markers = Object.values(MARKERS).filter((value) => value.startsWith('marker-'));
    // Where a marker may appear: secretKeyRef names and keys, Secret volume names and item keys.
    const references: string[] = [];
    const owners = manifests.filter((m) => ['Deployment', 'Job', 'CronJob', 'Pod'].includes(m.kind));
    expect(owners.filter((m) => m.kind === 'CronJob')).toHaveLength(4);
    for (const owner of owners) {
      const spec = podSpecOf(owner);
      for (const container of spec.containers) {
        for (const env of container.env ?? []) {
          const ref = env.valueFrom?.secretKeyRef;
          if (ref) references.push(ref.name, ref.key);
        }
      }
      for (const volume of volumesOf(spec)) {
        if (!volume.secret) continue;
        references.push(volume.secret.secretName, ...(volume.secret.items ?? []).map((item) => item.key));
      }
    }
    expect([...new Set(references.filter((r) => r.startsWith('marker-')))].sort()).toEqual(
      [...markers].sort(),
    );
    for (const configMap of manifests.filter((m) => m.kind === 'ConfigMap')) {
      expect(JSON.stringify(configMap)).not.toMatch(/marker-/);
    }
    // Nothing else carries them (env values, labels, annotations, args): every occurrence in the rendered
    // text is one of the references above.
    const text = await renderText({ set: MARKERS });
    for (const marker of markers) {
      expect(text.split(marker).length - 1, marker).toBe(references.filter((r) => r === marker).length);
    }
    expect(text).not.toMatch(/^kind: Secret$/m);
  });
});
