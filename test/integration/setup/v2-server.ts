import { cp, mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createV2Client, type V2Client } from '../../helpers/v2-client.js';
import { featureRowsIn } from '../../helpers/v2-scoring.js';
import { startTestServer, type TestServer } from './test-server.js';

/** A real server for the V2 tests, a V2 client on it, and the churn model's rows in its column order. */
export interface V2Server {
  readonly t: TestServer;
  readonly v2: V2Client;
  /** The churn model's feature names, in its input's column order. */
  readonly churnFeatures: readonly string[];
  /** Seeded customers' features, in the churn model's column order. */
  readonly featureRows: (ids: number[]) => number[][];
  /** Closes the client and the server and removes the model folder. */
  close(): Promise<void>;
}

/**
 * Starts the real server with its registry seeded from a copy of `models/` (the V2 repository tests unload and
 * load models in it), with a client built from the generated `inference.GRPCInferenceService` definition.
 */
export async function startV2Server(): Promise<V2Server> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ci-v2-models-'));
  await cp('models', dir, { recursive: true });
  const t = await startTestServer({ MODEL_REPOSITORY_DIR: dir });
  const v2 = createV2Client(t.address);
  const { model } = await t.client.getModel({ name: 'churn', version: '' });
  const churnFeatures = model!.versions[0]!.features.map((feature) => feature.name);
  return {
    t,
    v2,
    churnFeatures,
    featureRows: (ids) => featureRowsIn(churnFeatures, ids),
    async close() {
      v2.close();
      await t.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
