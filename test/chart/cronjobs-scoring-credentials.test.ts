import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseScoreArgs } from '../../batch/src/score/score-options.js';
import { serverCredentialsFromEnv } from '../../client/src/cli/server-credentials.js';
import {
  VAULT_SECRETS,
  cliArgs,
  componentOf,
  containerOf,
  cronJob,
  cronJobsOf,
  shardEnvironment,
  rendersWithCronJobs,
} from '../helpers/cronjobs.js';
import { render, renderCiCasesOnce } from '../helpers/helm.js';
import { podSpecOf, podTemplateOf, type CronJob } from '../helpers/manifests.js';
import { createCa, type Ca, type Issued } from '../helpers/pki.js';

// How the scoring CronJobs reach the server: the transport, credential and address score-cli builds from the
// rendered environment and files, and the combinations the chart refuses.
const manifestsOf = renderCiCasesOnce();

const renders = rendersWithCronJobs(manifestsOf);
const withCronJobs = renders.byName;

describe('scoring credentials', () => {
  let fakeRoot: string;
  let ca: Ca;
  let client: Issued;
  beforeAll(async () => {
    fakeRoot = await mkdtemp(path.join(os.tmpdir(), 'chart-cronjobs-'));
    ca = await createCa('chart-test-ca');
    client = await ca.issue({ commonName: 'batch' });
  });
  afterAll(async () => {
    await rm(fakeRoot, { recursive: true, force: true });
  });

  /** `env` with every SCORING_*_FILE moved under fakeRoot, where a file with plausible content now exists. */
  async function withFakeFiles(env: Record<string, string>): Promise<Record<string, string>> {
    const contents: Record<string, string> = {
      SCORING_TLS_CA_FILE: ca.certPem,
      SCORING_TLS_CERT_FILE: client.certPem,
      SCORING_TLS_KEY_FILE: client.keyPem,
      SCORING_API_KEY_FILE: 'fake-api-key',
      SCORING_BEARER_TOKEN_FILE: 'fake.jwt.token',
    };
    const moved = { ...env };
    for (const [name, file] of Object.entries(env)) {
      if (!name.endsWith('_FILE')) continue;
      const fake = path.join(fakeRoot, file);
      await mkdir(path.dirname(fake), { recursive: true });
      await writeFile(fake, contents[name] ?? 'fake');
      moved[name] = fake;
    }
    return moved;
  }

  /** Where a file the scoring container is told to read comes from: a mounted volume or the Vault Agent. */
  function fileSource(job: CronJob, file: string): string | undefined {
    const mount = containerOf(job).volumeMounts?.find((m) => file.startsWith(`${m.mountPath}/`));
    if (mount !== undefined) return `volume ${mount.name}`;
    const key = file.slice(VAULT_SECRETS.length + 1);
    const annotations = podTemplateOf(job).metadata.annotations ?? {};
    if (
      file.startsWith(`${VAULT_SECRETS}/`) &&
      annotations[`vault.hashicorp.com/agent-inject-secret-${key}`]
    ) {
      return `vault agent ${key}`;
    }
    return undefined;
  }

  it.each([
    ['defaults', {}, 'plaintext', 'dns:///ci-customer-intelligence-headless.ml.svc:50051'],
    // Through the headless name, the certificate is checked for the Service's name.
    [
      'production',
      {},
      'mtls, server name ci-customer-intelligence.ml.svc, api key from file',
      'dns:///ci-customer-intelligence-headless.ml.svc:50051',
    ],
    [
      'vault-direct',
      {},
      'tls, server name ci-customer-intelligence.ml.svc, api key from file',
      'dns:///ci-customer-intelligence-headless.ml.svc:50051',
    ],
    [
      'production',
      {
        'cronJobs.scoring.credential.type': 'bearerToken',
        'cronJobs.scoring.credential.existingSecret': 'jwt',
      },
      'mtls, server name ci-customer-intelligence.ml.svc, bearer token from file',
      'dns:///ci-customer-intelligence-headless.ml.svc:50051',
    ],
    [
      'production',
      { 'cronJobs.scoring.tls.existingSecret': '', 'service.headless.enabled': 'false' },
      'mtls, api key from file',
      'ci-customer-intelligence.ml.svc:50051',
    ],
  ] as const)(
    '%s %j: the CLI builds the transport and credential the server expects (%s)',
    async (name, set, description, address) => {
      const manifests =
        Object.keys(set).length === 0 ? withCronJobs()[name] : await render({ ciCase: name, set });
      const scoring = cronJobsOf(manifests).filter((job) => componentOf(job)!.startsWith('score-'));
      expect(scoring.length).toBeGreaterThan(0);
      for (const job of scoring) {
        const env = shardEnvironment(manifests, job, 'run-1', 0);
        for (const [variable, file] of Object.entries(env).filter(([n]) => n.endsWith('_FILE'))) {
          expect(fileSource(job, file), `${variable}=${file}`).toBeDefined();
        }
        const credentials = await serverCredentialsFromEnv(await withFakeFiles(env), 'SCORING');
        expect(credentials.description).toBe(description);
        expect(parseScoreArgs(cliArgs(job), env)!.address).toBe(address);
      }
    },
  );

  it('mounts Secret files read-only with only the keys the CLI reads, no subPath', () => {
    const job = cronJob(manifestsOf('vault-direct'), 'score-churn');
    const volumes = podSpecOf(job).volumes as Array<{ name: string; secret?: unknown }>;
    expect(volumes.filter((v) => v.secret !== undefined)).toEqual([
      {
        name: 'scoring-tls',
        secret: {
          secretName: 'customer-intelligence-server-ca',
          defaultMode: 0o440,
          // tls only: the CA; the Secret's key (if any) never travels.
          items: [{ key: 'ca.crt', path: 'ca.crt' }],
        },
      },
      {
        name: 'scoring-credential',
        secret: {
          secretName: 'customer-intelligence-batch-api-key',
          defaultMode: 0o440,
          items: [{ key: 'api-key', path: 'api-key' }],
        },
      },
    ]);
    for (const mount of containerOf(job).volumeMounts!.filter((m) => m.name !== 'tmp')) {
      expect(mount).toEqual({ name: mount.name, mountPath: expect.any(String), readOnly: true });
    }
  });

  it.each([
    [
      'auth required without a credential',
      'minimal',
      {
        'cronJobs.enabled': 'true',
        'auth.mode': 'required',
        'auth.apiKeys.enabled': 'true',
        'auth.apiKeys.existingSecret': 'keys',
        'tests.score.credential.existingSecret': 'test-key',
      },
      'the scoring CronJobs with auth.mode=required need cronJobs.scoring.credential.existingSecret',
    ],
    [
      'a Vault credential in direct mode (the CLIs have no Vault client)',
      'production',
      {
        'secrets.provider': 'direct',
        'migration.enabled': 'false',
        'cronJobs.database.existingSecret': 'db',
      },
      'with secrets.provider=direct the batch CLIs cannot read Vault',
    ],
    [
      'mTLS without a client certificate',
      'minimal',
      {
        'cronJobs.enabled': 'true',
        'grpc.tls.mode': 'mtls',
        'grpc.tls.existingSecret': 'tls',
        'tests.enabled': 'false',
      },
      'need cronJobs.scoring.tls.existingSecret: ca.crt to verify the server, tls.crt/tls.key as the client certificate',
    ],
    [
      'an API key the server would not check',
      'vault-direct',
      { 'auth.apiKeys.enabled': 'false' },
      'cronJobs.scoring.credential.type=apiKey needs auth.apiKeys.enabled',
    ],
    [
      'a bearer token the server could not verify',
      'production',
      { 'cronJobs.scoring.credential.type': 'bearerToken', 'auth.jwt.keySource': 'none' },
      'cronJobs.scoring.credential.type=bearerToken needs an auth.jwt.keySource',
    ],
    [
      'Vault keys without a KV path',
      'production',
      { 'auth.apiKeys.existingSecret': 'keys', 'secrets.vault.kv.path': '' },
      'secrets.vault.kv.path is required: the KV keys batch_api_key of the scoring CronJobs come from Vault',
    ],
  ])('refuses %s, naming the value to set', async (_name, ciCase, set, message) => {
    await expect(render({ ciCase, set })).rejects.toThrow(message);
  });

  it('needs nothing of the kind for training and retention alone', async () => {
    const manifests = await render({
      ciCase: 'vault-direct',
      set: {
        'cronJobs.scoring.churn.enabled': 'false',
        'cronJobs.scoring.credential.existingSecret': '',
        'cronJobs.scoring.tls.existingSecret': '',
      },
    });
    expect(cronJobsOf(manifests).map(componentOf)).toEqual(['retention']);
    expect(containerOf(cronJob(manifests, 'retention')).env!.map((e) => e.name)).toEqual([
      'DATABASE_URL',
      'LOG_LEVEL',
      'DATABASE_CONNECT_TIMEOUT_MS',
    ]);
  });
});
