/**
 * `npm run score -- --customer 42`: scores one customer with the running server and prints the result.
 * A small, dependency-free way to try the quick start without grpcurl.
 */
import { parseArgs } from 'node:util';
import { ClientError, Status } from 'nice-grpc';
import { credentialsToReach } from './cli/server-credentials.js';
import { exitOnUsageError } from './cli/usage-error.js';
import { createScoringClient, FeatureSource, type Customer } from './scoring-client.js';

const USAGE = `Usage: npm run score -- [options]

Scores one customer for churn and CLV (or one model) and prints the scores with reason codes.

Options:
  --customer <id>          customer id to look up in the feature store
  --feature <name=value>   inline feature value (repeatable); with every feature, no lookup happens
  --model <name>           churn, clv or all (default: all)
  --version <v>            pin a model version (default: the model's default version)
  --reasons <k>            reason codes per prediction (default: 3)
  --address <host:port>    server address (default: $SCORING_ADDRESS or localhost:50051)
  --json                   print the raw responses as JSON
  -h, --help               show this help

From the environment, never flags: SCORING_API_KEY(_FILE) or SCORING_BEARER_TOKEN(_FILE) (role scorer); TLS with
SCORING_TLS=tls|plaintext, SCORING_TLS_CA_FILE, SCORING_TLS_CERT_FILE + SCORING_TLS_KEY_FILE (mTLS) and
SCORING_TLS_SERVER_NAME. A credential goes over plaintext only to localhost, or with SCORING_TLS=plaintext.`;

const { values } = parseArgs({
  options: {
    customer: { type: 'string' },
    feature: { type: 'string', multiple: true },
    model: { type: 'string', default: 'all' },
    version: { type: 'string', default: '' },
    reasons: { type: 'string', default: '3' },
    address: { type: 'string', default: process.env.SCORING_ADDRESS ?? 'localhost:50051' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help || (values.customer === undefined && values.feature === undefined)) {
  console.log(USAGE);
  process.exit(values.help ? 0 : 2);
}

const features: Record<string, number> = {};
for (const pair of values.feature ?? []) {
  const [name, raw] = pair.split('=');
  const value = Number(raw);
  if (!name || raw === undefined || raw.trim() === '' || Number.isNaN(value)) {
    console.error(`--feature ${pair}: expected name=number`);
    process.exit(2);
  }
  features[name] = value;
}
const customer: Customer = { customerId: values.customer ?? '', features };
const connection = await credentialsToReach(values.address, process.env, 'SCORING').catch(
  exitOnUsageError('score'),
);
const client = createScoringClient(values.address, { ...connection.clientOptions, deadlineMs: 5_000 });

try {
  const models =
    values.model === 'all' ? (await client.listModels({})).models.map((m) => m.name) : [values.model];
  for (const model of models) {
    const response = await client.score({
      model,
      modelVersion: values.version,
      customers: [customer],
      reasonCodes: Number(values.reasons),
    });
    const outcome = response.results[0]?.outcome;
    if (values.json) console.log(JSON.stringify({ model, ...response }, null, 2));
    if (outcome?.$case === 'error') {
      // The customer could not be scored (unknown customer, a missing feature): say so, and exit 1, so
      // scripts and `helm test` see it.
      if (!values.json) console.log(`${model}: ${outcome.value.reason}: ${outcome.value.message}`);
      process.exitCode = 1;
      continue;
    }
    if (values.json || outcome?.$case !== 'prediction') continue;
    const p = outcome.value;
    const source = FeatureSource[p.featureSource].replace('FEATURE_SOURCE_', '').toLowerCase();
    console.log(`${p.model}@${p.modelVersion}  score ${p.score.toFixed(4)}  (features: ${source})`);
    for (const reason of p.reasonCodes) {
      const sign = reason.contribution >= 0 ? '+' : '-';
      console.log(
        `  ${sign}${Math.abs(reason.contribution).toFixed(3)}  ${reason.feature} = ${reason.value}`,
      );
    }
  }
} catch (error) {
  if (error instanceof ClientError) {
    console.error(`${error.path}: ${Status[error.code]}: ${error.details}`);
    process.exitCode = 1;
  } else throw error;
} finally {
  client.close();
}
