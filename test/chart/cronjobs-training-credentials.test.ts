import { describe, expect, it } from 'vitest';
import { serverCredentialsFromEnv } from '../../client/src/cli/server-credentials.js';
import { VAULT_SECRETS, containerOf, cronJob, vaultAnnotationsOf } from '../helpers/cronjobs.js';
import { render, renderCiCasesOnce } from '../helpers/helm.js';
import { podSpecOf } from '../helpers/manifests.js';
import { volumesOf } from '../helpers/server-secrets.js';

// How the training CronJob reaches the server's ModelAdminService: it registers and promotes through the
// admin API, with ADMIN_* variables built like the scoring jobs' SCORING_* ones, and an admin credential.
const manifestsOf = renderCiCasesOnce();

/** The train container's plain environment values (the chart sets no ADMIN_* from Secrets). */
const adminEnvironment = (manifests: Parameters<typeof cronJob>[0]) =>
  Object.fromEntries(
    (containerOf(cronJob(manifests, 'train')).env ?? [])
      .filter((e) => e.name.startsWith('ADMIN_'))
      .map((e) => [e.name, e.value ?? '']),
  );

describe('training credentials', () => {
  it('with the injector: the admin key from KV train_api_key, the scoring jobs’ TLS Secret, the headless address', () => {
    const manifests = manifestsOf('production');
    expect(adminEnvironment(manifests)).toEqual({
      ADMIN_ADDRESS: 'dns:///ci-customer-intelligence-headless.ml.svc:50051',
      ADMIN_TLS: 'tls',
      ADMIN_TLS_SERVER_NAME: 'ci-customer-intelligence.ml.svc',
      ADMIN_TLS_CA_FILE: '/etc/customer-intelligence/admin-tls/ca.crt',
      ADMIN_TLS_CERT_FILE: '/etc/customer-intelligence/admin-tls/tls.crt',
      ADMIN_TLS_KEY_FILE: '/etc/customer-intelligence/admin-tls/tls.key',
      ADMIN_API_KEY_FILE: `${VAULT_SECRETS}/train_api_key`,
    });
    const train = cronJob(manifests, 'train');
    expect(vaultAnnotationsOf(train)).toContain('vault.hashicorp.com/agent-inject-secret-train_api_key');
    const secretOf = (job: string, volume: string) =>
      volumesOf(podSpecOf(cronJob(manifests, job))).find((v) => v.name === volume)?.secret?.secretName;
    expect(secretOf('score-churn', 'scoring-tls')).toBeDefined();
    expect(secretOf('train', 'admin-tls')).toBe(secretOf('score-churn', 'scoring-tls'));
  });

  it('renders variables the trainer’s own parser accepts', async () => {
    const env = adminEnvironment(
      await render({
        set: {
          'cronJobs.enabled': 'true',
          'auth.mode': 'required',
          'auth.apiKeys.enabled': 'true',
          'auth.apiKeys.existingSecret': 'api-keys',
          'cronJobs.scoring.credential.existingSecret': 'batch-key',
          'cronJobs.training.credential.existingSecret': 'train-key',
          'tests.score.credential.existingSecret': 'test-key',
        },
      }),
    );
    expect(env).toEqual({
      ADMIN_ADDRESS: 'dns:///ci-customer-intelligence-headless.ml.svc:50051',
      ADMIN_TLS: 'plaintext',
      ADMIN_API_KEY_FILE: '/etc/customer-intelligence/admin-credential/api-key',
    });
    // The key file does not exist here: the parser names the variable and the file it could not read.
    await expect(serverCredentialsFromEnv(env, 'ADMIN')).rejects.toThrow(
      /^ADMIN_API_KEY_FILE: cannot read \/etc\/customer-intelligence\/admin-credential\/api-key/,
    );
    expect((await serverCredentialsFromEnv({ ...env, ADMIN_API_KEY_FILE: '' }, 'ADMIN')).description).toBe(
      'plaintext',
    );
  });

  it('refuses to render a training job that could not authenticate, naming the value to set', async () => {
    const direct = {
      'secrets.provider': 'direct',
      'migration.enabled': 'false',
      'cronJobs.scoring.credential.existingSecret': 'batch-key',
      'cronJobs.database.existingSecret': 'batch-db',
    };
    await expect(render({ ciCase: 'production', set: direct })).rejects.toThrow(
      /the training CronJob with auth\.mode=required needs cronJobs\.training\.credential\.existingSecret: a Secret holding an API key with the admin role/,
    );
    const off = await render({
      ciCase: 'production',
      set: { ...direct, 'cronJobs.training.enabled': 'false' },
    });
    expect(off.some((m) => m.kind === 'CronJob' && m.metadata.name.endsWith('-train'))).toBe(false);
  });
});
