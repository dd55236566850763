import { describe, expect, it } from 'vitest';
import {
  INJECT,
  PRE_POPULATE_ONLY,
  VAULT_SECRETS,
  containerOf,
  cronJob,
  cronJobsOf,
  fakeSecret,
  vaultAnnotationsOf,
  rendersWithCronJobs,
} from '../helpers/cronjobs.js';
import { render, renderCiCasesOnce } from '../helpers/helm.js';
import { podSpecOf, podTemplateOf } from '../helpers/manifests.js';
import { containerEnvironment } from '../helpers/pod-environment.js';

// The Vault Agent injector on the batch CronJobs: an agent only with something to inject, and then as an init
// container only, so the Jobs can finish.
const manifestsOf = renderCiCasesOnce();

const renders = rendersWithCronJobs(manifestsOf);
const withCronJobs = renders.byName;

describe('Vault Agent injector', () => {
  it('every CronJob that takes files from Vault runs the agent as an init container only (pre-populate-only)', () => {
    const production = manifestsOf('production');
    for (const component of ['score-churn', 'score-clv']) {
      const job = cronJob(production, component);
      const annotations = podTemplateOf(job).metadata.annotations!;
      expect(annotations).toMatchObject({
        [INJECT]: 'true',
        [PRE_POPULATE_ONLY]: 'true',
        // The scoring jobs' own Vault role, not the server's.
        'vault.hashicorp.com/role': 'customer-intelligence-score',
        'vault.hashicorp.com/agent-service-account-token-volume-name': 'vault-token',
        'vault.hashicorp.com/agent-inject-secret-batch_api_key': 'secret/data/ml/customer-intelligence',
        'vault.hashicorp.com/agent-inject-template-batch_api_key':
          '{{- with secret "secret/data/ml/customer-intelligence" -}}{{ .Data.data.batch_api_key }}{{- end -}}',
        'vault.hashicorp.com/agent-inject-perms-batch_api_key': '0400',
        // podAnnotations are kept beside the chart's.
        'sidecar.istio.io/inject': 'false',
      });
      // Only what the CLI reads (the API key, the database credentials): the client certificate comes from
      // its Secret.
      expect(Object.keys(annotations).filter((k) => k.includes('agent-inject-secret-'))).toEqual([
        'vault.hashicorp.com/agent-inject-secret-batch_api_key',
        'vault.hashicorp.com/agent-inject-secret-database_url',
      ]);
      // The agent's login token: projected, Vault's audience; the CLI's container does not mount it.
      expect(podSpecOf(job).volumes).toContainEqual({
        name: 'vault-token',
        projected: {
          sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3600, audience: 'vault' } }],
        },
      });
      expect(containerOf(job).volumeMounts!.map((m) => m.name)).not.toContain('vault-token');
    }
  });

  it.each(['production', 'vault-direct', 'defaults'] as const)(
    '%s: an agent only with the injector and something to inject, and then always pre-populate-only',
    (name) => {
      const injector = name === 'production';
      for (const job of cronJobsOf(withCronJobs()[name])) {
        const vault = vaultAnnotationsOf(job);
        const fromVault = Object.values(
          containerEnvironment(withCronJobs()[name], containerOf(job), fakeSecret, () => 'run-1'),
        ).some((value) => value.startsWith(`${VAULT_SECRETS}/`));
        expect(fromVault, job.metadata.name).toBe(vault.length > 0);
        if (!injector) expect(vault, job.metadata.name).toEqual([]);
        if (vault.length > 0) {
          expect(podTemplateOf(job).metadata.annotations![PRE_POPULATE_ONLY], job.metadata.name).toBe('true');
        }
      }
    },
  );

  it('renders the TLS material from KV too when no Secret is named', async () => {
    const manifests = await render({
      ciCase: 'production',
      set: { 'cronJobs.scoring.tls.existingSecret': '' },
    });
    const job = cronJob(manifests, 'score-churn');
    const injected = Object.keys(podTemplateOf(job).metadata.annotations!)
      .filter((k) => k.startsWith('vault.hashicorp.com/agent-inject-secret-'))
      .map((k) => k.replace('vault.hashicorp.com/agent-inject-secret-', ''))
      .sort();
    expect(injected).toEqual([
      'batch_api_key',
      'batch_tls_ca',
      'batch_tls_cert',
      'batch_tls_key',
      'database_url',
    ]);
    expect(podTemplateOf(job).metadata.annotations![PRE_POPULATE_ONLY]).toBe('true');
    expect(containerOf(job).env).toContainEqual({
      name: 'SCORING_TLS_KEY_FILE',
      value: '/vault/secrets/batch_tls_key',
    });
  });
});
